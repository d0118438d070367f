"""Structured logging: JSON/console output, and secrets never reach the output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from arbkit.runtime.logging import (
    REDACTED,
    clear_registered_secrets,
    configure_logging,
    is_secret_key,
    redact,
    register_secret,
    reset_logging,
)

SECRET = "0x4c0883a69102937d6231471b5dbb6204fe512961708279f3c1a7e5b3c1d2e3f4"
PASSPHRASE = "correct-horse-battery"


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    configure_logging("debug", json=True, stream=buf)
    yield buf
    clear_registered_secrets()
    reset_logging()


def lines(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize(
    "key",
    ["secret", "api_secret", "API_KEY", "apiKey", "private_key", "privateKey", "passphrase", "signature", "password", "token", "access_token", "x-api-key"],
)
def test_secret_keys_recognised(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["token_id", "yes_token_id", "clob_token_ids", "private_key_env", "key_file", "price", "instrument_id"])
def test_public_keys_not_redacted(key: str) -> None:
    assert not is_secret_key(key)


def test_secret_keys_redacted_at_any_depth(out: io.StringIO) -> None:
    log = structlog.get_logger("test")
    log.info(
        "sending order",
        api_key="AK-123",
        headers={"POLY_SIGNATURE": "sig-abc", "POLY_PASSPHRASE": "pp", "Content-Type": "application/json"},
        legs=[{"token_id": "7123", "signature": "s2"}],
        private_key_env="POLYMARKET_PRIVATE_KEY",
    )
    (rec,) = lines(out)
    assert rec["event"] == "sending order"
    assert rec["level"] == "info"
    assert rec["api_key"] == REDACTED
    assert rec["headers"] == {"POLY_SIGNATURE": REDACTED, "POLY_PASSPHRASE": REDACTED, "Content-Type": "application/json"}
    assert rec["legs"] == [{"token_id": "7123", "signature": REDACTED}]
    assert rec["private_key_env"] == "POLYMARKET_PRIVATE_KEY"  # the variable's name is not the secret
    text = out.getvalue()
    for s in ("AK-123", "sig-abc", "s2\""):
        assert s not in text


def test_registered_secret_never_appears_anywhere(out: io.StringIO) -> None:
    register_secret(SECRET)
    register_secret(PASSPHRASE)
    log = structlog.get_logger("test")
    log.info(f"loaded key {SECRET}")  # in the message itself
    log.warning("auth failed", detail={"body": f"bad key {SECRET[:10]}... full {SECRET}"}, value=SECRET)
    log.info("opaque", items=(PASSPHRASE, 1, None), raw=SECRET.encode())
    try:
        raise ValueError(f"cannot sign with {SECRET}")
    except ValueError:
        log.exception("signing failed")
    # Third-party libraries log through stdlib logging: redacted too.
    logging.getLogger("aiohttp.client").warning("request to https://x?key=%s failed", SECRET)
    text = out.getvalue()
    assert SECRET not in text
    assert PASSPHRASE not in text
    recs = lines(out)
    assert len(recs) == 5
    assert recs[0]["event"] == f"loaded key {REDACTED}"
    assert recs[1]["value"] == REDACTED
    assert recs[2]["items"] == [REDACTED, 1, None]
    assert "ValueError: cannot sign with ***" in recs[3]["exception"]
    assert recs[4]["logger"] == "aiohttp.client"
    assert recs[4]["event"] == f"request to https://x?key={REDACTED} failed"


def test_short_registered_secret_only_replaced_as_whole_value(out: io.StringIO) -> None:
    register_secret("abc")
    log = structlog.get_logger("test")
    log.info("x", a="abc", b="abcdef")
    (rec,) = lines(out)
    assert rec["a"] == REDACTED
    assert rec["b"] == "abcdef"


def test_console_renderer_redacts_too() -> None:
    buf = io.StringIO()
    configure_logging("info", json=False, stream=buf)
    try:
        register_secret(SECRET)
        structlog.get_logger("c").info("hello", password="hunter2", k=SECRET)
        text = buf.getvalue()
        assert "hello" in text and "***" in text
        assert "hunter2" not in text and SECRET not in text
    finally:
        clear_registered_secrets()
        reset_logging()


def test_level_filtering_and_bad_level(out: io.StringIO) -> None:
    configure_logging("warning", json=True, stream=out)
    log = structlog.get_logger("lvl")
    log.info("hidden")
    log.warning("shown")
    assert [r["event"] for r in lines(out)] == ["shown"]
    with pytest.raises(ValueError, match="log level must be one of"):
        configure_logging("loud")


def test_redact_helper_leaves_non_secrets() -> None:
    register_secret("supersecretvalue")
    try:
        assert redact({"price": "0.41", "note": "has supersecretvalue inside"}) == {"price": "0.41", "note": "has *** inside"}
        assert redact([1, 2.5, None, True]) == [1, 2.5, None, True]
    finally:
        clear_registered_secrets()

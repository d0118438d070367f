"""Structured logging (structlog, JSON or console) with secret redaction.

Every log line, ours and third-party (stdlib ``logging``: aiohttp, websockets, ...), passes the
:func:`redact_secrets` processor last before rendering:

* a value under a key that names a secret (``secret``, ``passphrase``, ``private_key``,
  ``api_key``, ``signature``, ``password``, ``token``, any case, ``-``/``_`` or none between the
  words) is replaced by ``"***"``, at any depth of nested dicts/lists;
* any value equal to a secret registered with :func:`register_secret` is replaced by ``"***"``,
  and a registered secret of 8 characters or more is also cut out of longer strings (messages,
  tracebacks, URLs).

Not treated as secret keys, because they hold public identifiers that logs need: keys ending in
``token_id``/``token_ids`` (Polymarket outcome token ids) and keys ending in ``_env`` or
``_file`` (the *name* of the environment variable or the *path* of the key file, never the secret).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from typing import Any, TextIO

import structlog

REDACTED = "***"

SECRET_KEY_RE = re.compile(r"secret|passphrase|private[_-]?key|api[_-]?key|signature|password|token", re.IGNORECASE)
_PUBLIC_KEY_RE = re.compile(r"token[_-]?ids?$|_env$|_file$", re.IGNORECASE)
# Shorter secrets are only matched as whole values: cutting short strings out of text would
# mangle unrelated log content without protecting anything real.
_MIN_SUBSTRING_LEN = 8

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_secret_pattern: re.Pattern[str] | None = None
_handler: logging.Handler | None = None
_root_level_before: int | None = None


def register_secret(value: str | bytes | None) -> None:
    """Make ``value`` unloggable: it is replaced by ``***`` wherever it appears in a log line."""
    global _secrets, _secret_pattern
    if value is None:
        return
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = str(value)
    if not value.strip():
        return
    with _lock:
        secrets = set(_secrets)
        secrets.update({value, value.strip()})
        long_ones = sorted((s for s in secrets if len(s) >= _MIN_SUBSTRING_LEN), key=len, reverse=True)
        _secret_pattern = re.compile("|".join(re.escape(s) for s in long_ones)) if long_ones else None
        _secrets = frozenset(secrets)


def clear_registered_secrets() -> None:
    """Forget registered secrets (tests)."""
    global _secrets, _secret_pattern
    with _lock:
        _secrets = frozenset()
        _secret_pattern = None


def is_secret_key(key: object) -> bool:
    k = str(key)
    return bool(SECRET_KEY_RE.search(k)) and not _PUBLIC_KEY_RE.search(k)


def redact(value: Any) -> Any:
    """A copy of ``value`` with secrets replaced (see the module docstring)."""
    if isinstance(value, str):
        if value in _secrets:
            return REDACTED
        pattern = _secret_pattern
        if pattern is not None:
            return pattern.sub(REDACTED, value)
        return value
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret_key(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [redact(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", "replace")
        red = redact(text)
        return red if red != text else value
    if _secrets and not isinstance(value, (int, float, bool, type(None))):
        # Arbitrary objects are rendered with repr() later: check that text too.
        text = repr(value)
        red = redact(text)
        return red if red != text else value
    return value


def redact_secrets(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: redact secrets by key and by registered value."""
    return {k: (REDACTED if is_secret_key(k) else redact(v)) for k, v in event_dict.items()}


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL}


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    try:
        return _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"log level must be one of {'|'.join(_LEVELS)}, got {level!r}") from None


def configure_logging(level: str | int = "info", json: bool = True, stream: TextIO | None = None) -> None:
    """Send structlog and stdlib logging to ``stream`` (stderr by default) as JSON lines or
    console text, redacting secrets. Safe to call again (replaces the previous set-up)."""
    global _handler, _root_level_before
    lvl = _level(level)
    out = stream if stream is not None else sys.stderr
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    renderer: Any
    if json:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=getattr(out, "isatty", lambda: False)(), exception_formatter=structlog.dev.plain_traceback)
    pre_chain = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        timestamper,
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *pre_chain,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks become text before redaction so a secret inside one is cut out too.
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    else:
        _root_level_before = root.level
    root.addHandler(handler)
    root.setLevel(lvl)
    _handler = handler


def reset_logging() -> None:
    """Undo :func:`configure_logging`: remove our handler and restore structlog's defaults."""
    global _handler, _root_level_before
    if _handler is not None:
        root = logging.getLogger()
        root.removeHandler(_handler)
        if _root_level_before is not None:
            root.setLevel(_root_level_before)
        _handler = None
        _root_level_before = None
    structlog.reset_defaults()

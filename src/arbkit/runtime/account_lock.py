"""One writer per venue account: a second node on the same account is refused at start-up.

Two nodes trading one account would each find the other's orders "not in the journal" at
reconciliation, cancel them or trade against them, and book the same balance twice. The journal's
own lock only covers one journal file; this covers the account, whichever journal is used.

The lock is an ``flock`` on a file in the run directory, named by a hash of the venue endpoint and
the account's public identity (Polymarket funder address, Kalshi key id, KuCoin API key) — never a
secret, and the identity itself is not written anywhere. The kernel releases it when the process
ends, ``kill -9`` included, so a crashed node never blocks its restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from arbkit.execution.control import run_dir


class AccountInUse(Exception):
    """Another live process holds this venue account."""


def account_identity(bundle: Any) -> str | None:
    """The public identity of the account a venue bundle trades (None in paper mode: nothing is
    sent, so two paper nodes may share credentials)."""
    if getattr(bundle.mode, "value", bundle.mode) == "paper":
        return None
    signer = getattr(bundle.gateway, "signer", None)
    for attr in ("funder", "address", "key_id", "api_key"):
        ident = getattr(signer, attr, None)
        if ident:
            return f"{bundle.rest_url}|{str(ident).lower()}"
    return None


class AccountLocks:
    """Holds the account locks of one node until :meth:`release`."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or run_dir() / "accounts"
        self._held: dict[str, int] = {}

    def acquire(self, venue: str, identity: str, info: dict[str, Any]) -> Path:
        digest = hashlib.sha256(f"{venue}|{identity}".encode()).hexdigest()[:24]
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.directory / f"{venue}-{digest}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
                holder = f" (pid {data.get('pid')}, node {data.get('node')!r}, config {data.get('config')})"
            os.close(fd)
            raise AccountInUse(
                f"another arbkit node{holder} already trades this {venue} account: two writers on one account "
                "would each take the other's orders for unknown ones. Stop it, or give this node another account."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "since": int(time.time()), "venue": venue, **info}).encode(), 0)
        self._held[str(path)] = fd
        return path

    def release(self) -> None:
        for fd in self._held.values():
            with contextlib.suppress(OSError):
                os.close(fd)  # closing releases the flock; the file stays (its name is just a hash)
        self._held.clear()

    @property
    def held(self) -> list[str]:
        return sorted(self._held)

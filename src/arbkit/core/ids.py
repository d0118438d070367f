"""Identifiers: correlation ids and idempotent client order ids."""

from __future__ import annotations

import itertools
import os
import time

_counter = itertools.count()
_PROC = os.urandom(3).hex()
_time_ns = time.time_ns


def new_correlation_id(prefix: str = "c") -> str:
    """Unique within and across processes: time, a per-process random part and a counter."""
    return f"{prefix}-{_time_ns():x}-{_PROC}-{next(_counter):x}"


def use_deterministic_ids(clock_ns, tag: str) -> None:
    """Backtests: ids from the simulated clock, a fixed tag and a counter from 0, so the same
    run gives the same ids (and a byte-identical journal). Not for live processes."""
    global _counter, _PROC, _time_ns
    _counter, _PROC, _time_ns = itertools.count(), tag, clock_ns


def client_order_id(execution_id: str, leg_index: int, attempt: int = 0) -> str:
    """Deterministic client order id for a saga leg.

    Deterministic on purpose: after a crash the same leg maps to the same id, so a resend is
    recognised by the venue (or by us asking the venue) instead of creating a second order.
    """
    return f"{execution_id}-L{leg_index}-A{attempt}"

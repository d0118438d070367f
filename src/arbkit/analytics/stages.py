"""The decision-path stages latency is measured over, shared by the report and the metrics.

Each stage is the difference of two :class:`arbkit.execution.report.StageTimings` fields (ns on
the engine's clock). A stage is measured only when both ends happened (non-zero) and the end is
not before the start: a missing timestamp is "not measured", never a zero latency.
"""

from __future__ import annotations

from typing import Any

# (stage name, start field, end field), in decision-path order.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("socket->book", "socket_arrival_ns", "book_updated_ns"),
    ("book->evaluated", "book_updated_ns", "evaluated_ns"),
    ("evaluated->intent", "evaluated_ns", "intent_created_ns"),
    ("intent->risk", "intent_created_ns", "risk_checked_ns"),
    ("risk->sent", "risk_checked_ns", "sent_ns"),
    ("sent->acked", "sent_ns", "acked_ns"),
    ("acked->filled", "acked_ns", "filled_ns"),
    # end to end: market data on the socket to the first order handed to a venue
    ("socket->sent", "socket_arrival_ns", "sent_ns"),
)

STAGE_NAMES: tuple[str, ...] = tuple(s[0] for s in STAGES)


def stage_latencies_ns(timings: Any) -> dict[str, int]:
    """Measured stages of one execution's timings (a StageTimings or a dict of its fields)."""
    get = timings.get if isinstance(timings, dict) else (lambda k, d=0: getattr(timings, k, d))
    out: dict[str, int] = {}
    for name, start, end in STAGES:
        a, b = int(get(start, 0) or 0), int(get(end, 0) or 0)
        if a > 0 and b > 0 and b >= a:
            out[name] = b - a
    return out

"""Recording raw venue frames: one line per received frame, ``<recv_ns> <raw frame>``.

That is the format the simulator's replay scenario and the backtests read. Line breaks inside a
frame are replaced with spaces so one frame stays one line (JSON does not need them).
"""

from __future__ import annotations

from typing import IO

_NO_BREAKS = str.maketrans("\n\r", "  ")


def open_recording(path: str) -> IO[str]:
    """Open (append) a recording; buffered: a frame is a write call, not a syscall."""
    return open(path, "a", encoding="utf-8", buffering=1 << 16)


def frame_line(recv_ns: int, raw: str | bytes) -> str:
    """The recording line of one frame, newline included."""
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    return f"{recv_ns} {text.translate(_NO_BREAKS)}\n"


def close_recording(record: IO[str] | None) -> None:
    if record is not None:
        record.flush()
        record.close()


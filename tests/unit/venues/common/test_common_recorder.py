"""Raw-frame recording lines: ``<recv_ns> <raw>``, one frame per line."""

from __future__ import annotations

from arbkit.venues.common.recorder import close_recording, frame_line, open_recording


def test_frame_line_keeps_one_frame_per_line() -> None:
    assert frame_line(12, '{"a":\n1}\r') == '12 {"a": 1} \n'
    assert frame_line(5, b"PONG") == "5 PONG\n"
    assert frame_line(7, b"\xff") == "7 \ufffd\n"  # undecodable bytes still recorded, not lost


def test_recording_appends_and_closes(tmp_path) -> None:
    path = tmp_path / "frames.rec"
    path.write_text("1 old\n")
    rec = open_recording(str(path))
    rec.write(frame_line(2, "new"))
    close_recording(rec)
    close_recording(None)
    assert rec.closed and path.read_text().splitlines() == ["1 old", "2 new"]

"""``arbkit feed polymarket`` as a real subprocess against a WebSocket server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import sys

import websockets

TOKEN = "4242424242"


async def test_feed_cli_prints_top_of_book_and_records(tmp_path) -> None:
    async def handler(ws) -> None:
        sub = json.loads(await ws.recv())
        assert sub["assets_ids"] == [TOKEN]
        await ws.send(json.dumps([{"event_type": "book", "asset_id": TOKEN, "market": "0xm",
                                   "bids": [{"price": "0.41", "size": "12.5"}], "asks": [{"price": "0.43", "size": "3"}]}]))
        await ws.send(json.dumps({"event_type": "price_change", "market": "0xm", "price_changes": [
            {"asset_id": TOKEN, "price": "0.42", "size": "7", "side": "BUY"}]}))
        async for msg in ws:
            if msg == "PING":
                await ws.send("PONG")

    server = await websockets.serve(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    rec = tmp_path / "rec.txt"
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "arbkit.cli", "feed", "polymarket", "--ws-url", f"ws://127.0.0.1:{port}",
            "--rest-url", "http://127.0.0.1:9", "--asset", TOKEN, "--record", str(rec), "--duration", "1.5",
            "--crosscheck-s", "0", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        server.close()
        await server.wait_closed()
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert any("bid 12.500000 @ 0.41 | ask 0.43 x 3.000000" in line for line in lines), lines
    assert any("bid 7.000000 @ 0.42" in line for line in lines), lines
    assert "frames=2" in err.decode()
    recorded = rec.read_text().splitlines()
    assert len(recorded) >= 2 and all(r.split(" ", 1)[0].isdigit() for r in recorded)
    assert json.loads(recorded[0].split(" ", 1)[1])[0]["event_type"] == "book"

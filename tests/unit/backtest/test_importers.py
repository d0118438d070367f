"""Importers: a Binance-style capture becomes KuCoin level-2 lines the KuCoin feed syncs exactly
as Binance's own rule says (a diff received before the snapshot but newer than it is applied)."""

from __future__ import annotations

import asyncio
import gzip
import json
from decimal import Decimal as D
from pathlib import Path

from arbkit.backtest.check import check_replay
from arbkit.backtest.importers import import_data, kucoin_symbol, parse_mapping


def _diff(ns: int, U: int, u: int, b=(), a=()) -> str:
    return f"{ns} " + json.dumps({"stream": "abcusdt@depth@100ms", "data": {"e": "depthUpdate", "s": "ABCUSDT", "U": U, "u": u,
                                                                             "b": [list(x) for x in b], "a": [list(x) for x in a]}})


def _write(path: Path, lines: list[str]) -> None:
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")


def _levels(out: Path) -> tuple[dict, dict]:
    from arbkit.backtest.recording import RecordedMetadata, read_lines
    from arbkit.backtest import rest_replay
    from arbkit.core.clock import SimClock
    from arbkit.core.enums import ConnectionState, Venue
    from arbkit.venues.kucoin.feed import FeedConfig, KucoinMarketFeed

    meta = RecordedMetadata.load([out])
    insts = {i.symbol: i for i in meta.spot_instruments(Venue.KUCOIN)}
    lines = list(read_lines(out / "kucoin.frames"))
    clock = SimClock(lines[0][0])

    async def run() -> tuple[dict, dict]:
        f = KucoinMarketFeed(lambda e: None, FeedConfig(), rest=None, instruments=insts.get, clock=clock)
        f.subscribe(["kucoin:ABC-USDT"])
        for s in f._shards:
            s.link.set_state(ConnectionState.CONNECTED)
        for ns, text in lines:
            clock.set(max(ns, clock.now_ns()))
            if text.startswith("#rest"):
                rest_replay.apply(Venue.KUCOIN, f, text, ns)
            else:
                f._on_frame(f._shards[0], text)
        b = f.book("kucoin:ABC-USDT")
        return ({b.price(t): b.size(q) for t, q in b.levels(True)}, {b.price(t): b.size(q) for t, q in b.levels(False)})

    return asyncio.run(run())


def test_a_diff_newer_than_the_snapshot_but_received_before_it_is_applied(tmp_path: Path) -> None:
    src = tmp_path / "binance_spot_abcusdt_20240808.gz"
    _write(src, [
        _diff(1, 1, 5, b=[("100.00", "1.0")]),  # inside the snapshot (u 5 <= 6): dropped
        _diff(2, 6, 8, a=[("105.00", "2.0")]),  # straddles it (U 6 <= 7 <= u 8): applied whole
        f"3 " + json.dumps({"lastUpdateId": 6, "bids": [["99.00", "1.0"], ["98.00", "1.0"]], "asks": [["106.00", "1.0"]]}),
        _diff(4, 9, 10, b=[("99.00", "0")]),
    ])
    info = import_data("hftbacktest", [src], tmp_path / "out")
    assert info["source_gaps"] == []
    bids, asks = _levels(tmp_path / "out")
    assert bids == {D("98.00"): D("1.0")}
    assert asks == {D("105.00"): D("2.0"), D("106.00"): D("1.0")}


def test_a_hole_in_the_source_ids_is_a_gap_in_the_replay(tmp_path: Path) -> None:
    src = tmp_path / "binance_spot_abcusdt_20240808.gz"
    _write(src, [
        f"1 " + json.dumps({"lastUpdateId": 10, "bids": [["99.00", "1.0"]], "asks": [["106.00", "1.0"]]}),
        _diff(2, 11, 12, b=[("99.50", "1.0")]),
        _diff(3, 15, 16, b=[("99.60", "1.0")]),  # 13..14 never arrived
    ])
    info = import_data("hftbacktest", [src], tmp_path / "out")
    assert info["source_gaps"] == [{"symbol": "ABC-USDT", "recv_ns": 3, "expected": 13, "got": 15}]
    res = asyncio.run(check_replay([tmp_path / "out"]))
    assert [(g["line"], g["recv_ns"]) for g in res["gaps"]] == [(3, 3)]


def test_symbols_and_mappings() -> None:
    assert kucoin_symbol("btcusdt") == "BTC-USDT" and kucoin_symbol("ETHBTC") == "ETH-BTC"
    assert kucoin_symbol("BTC-PERPETUAL") == "BTC-PERPETUAL"
    assert parse_mapping("ts=a, price=b") == {"ts": "a", "price": "b"}

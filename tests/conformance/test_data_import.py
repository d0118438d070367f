"""``arbkit data import`` against the real third-party recordings in ../shared/data, each replayed
through the KuCoin feed's own parse and sequence sync (``arbkit data check``)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from arbkit.backtest.check import check_replay
from arbkit.backtest.importers import import_data


def _check(out: Path) -> dict:
    return asyncio.run(check_replay([out]))


def test_cryptofeed_kucoin_capture_replays_without_gaps_through_the_cli(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "cf"
    env = dict(os.environ)
    p = subprocess.run([sys.executable, "-m", "arbkit.cli", "data", "import", "--from", "cryptofeed",
                        str(shared_data / "cryptofeed"), "--out", str(out)], capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    assert "0 gaps in the source's own sequence" in p.stdout
    info = json.loads((out / "import.json").read_text())
    assert info["symbols"]["BCHSV-USDT"] == {"deltas": 2361, "snapshots": 1}  # SOURCES.md: 2,361 BCHSV-USDT updates
    assert sum(s["deltas"] for s in info["symbols"].values()) == 3853  # SOURCES.md: 3,853 trade.l2update
    meta = json.loads((out / "metadata.json").read_text())
    assert len(meta["spot_instruments"]["kucoin"]) == 634  # the symbols list
    p = subprocess.run([sys.executable, "-m", "arbkit.cli", "data", "check", str(out), "--json"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    res = json.loads(p.stdout)
    assert res["gaps"] == []
    ku = res["feeds"]["kucoin"]
    assert ku["live_books"] == ku["books"] == 9 and ku["crossed_books"] == [] and ku["malformed"] == 0
    assert res["rest_snapshots_applied"] == 9
    assert ku["stats"]["updates"] + ku["stats"]["rest_snapshots"] == res["book_updates"]


def test_hftbacktest_binance_depth_replays_without_gaps(shared_data: Path, tmp_path: Path) -> None:
    src = [shared_data / "hftbacktest" / f"binance_spot_{s}_20240808.gz" for s in ("btcusdt", "ethusdt")]
    info = import_data("hftbacktest", src, tmp_path / "hb")
    assert info["source_gaps"] == []
    assert info["skipped"]["bookTicker"] == 28040 + 24077  # SOURCES.md counts
    assert info["symbols"]["BTC-USDT"] == {"deltas": 3451, "snapshots": 1}
    meta = json.loads((tmp_path / "hb" / "metadata.json").read_text())
    ticks = {i["symbol"]: Decimal(i["tick_size"]) for i in meta["spot_instruments"]["kucoin"]}
    assert ticks == {"BTC-USDT": Decimal("0.01"), "ETH-USDT": Decimal("0.01")}  # Binance's tick for both
    res = _check(tmp_path / "hb")
    assert res["gaps"] == []
    ku = res["feeds"]["kucoin"]
    assert ku["live_books"] == 2 and ku["crossed_books"] == [] and ku["malformed"] == 0
    assert res["rest_snapshots_applied"] == 2


def test_tardis_incremental_l2_snapshot_is_the_book(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "nautilus_trader" / "deribit_incremental_book_L2_BTC-PERPETUAL.csv"
    import_data("tardis-l2", [src], tmp_path / "tl")
    rows = [r.split(",") for r in src.read_text().splitlines()[1:]]
    res = _check(tmp_path / "tl")
    assert res["gaps"] == [] and res["feeds"]["kucoin"]["live_books"] == 1
    line = (tmp_path / "tl" / "kucoin.frames").read_text().splitlines()
    assert len(line) == 1 and "#rest orderbook BTC-PERPETUAL" in line[0]
    _, bids, asks = json.loads(line[0].split(" ", 4)[4])
    assert len(bids) + len(asks) == len(rows)
    assert asks[0] == ["6421.5", "18640"]


def test_tardis_book_snapshot_25_and_the_same_file_as_a_mapped_table(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "nautilus_trader" / "binance-futures_book_snapshot_25_BTCUSDT.csv"
    info = import_data("tardis-snap", [src], tmp_path / "ts")
    assert info["symbols"]["BTC-USDT"]["snapshots"] == 10
    res = _check(tmp_path / "ts")
    assert res["gaps"] == [] and res["rest_snapshots_applied"] == 10
    last = src.read_text().splitlines()[-1].split(",")
    frames = (tmp_path / "ts" / "kucoin.frames").read_text().splitlines()
    _, bids, asks = json.loads(frames[-1].split(" ", 4)[4])
    assert asks[0] == [last[4], last[5]] and bids[0] == [last[6], last[7]] and len(asks) == len(bids) == 25
    # the generic table importer with the column mapping written out gives the same recording
    import_data("table", [src], tmp_path / "tb", mapping="ts=local_timestamp,symbol=symbol,bid_price=bids[{i}].price,"
                "bid_size=bids[{i}].amount,ask_price=asks[{i}].price,ask_size=asks[{i}].amount")
    assert (tmp_path / "tb" / "kucoin.frames").read_bytes() == (tmp_path / "ts" / "kucoin.frames").read_bytes()


def test_long_depth_table_reports_exactly_where_the_source_has_a_gap(shared_data: Path, tmp_path: Path) -> None:
    d = shared_data / "nautilus_trader"
    info = import_data("table", [d / "btcusdt-depth-snap.csv", d / "btcusdt-depth-update.csv"], tmp_path / "t",
                       mapping="ts=timestamp,symbol=symbol,side=side,price=price,size=qty,kind=update_type,"
                               "first_id=first_update_id,last_id=last_update_id")
    # the snapshot ends at update id 2098021528332; the diffs start ten minutes later at 2098041693435
    assert info["source_gaps"] == [{"symbol": "BTC-USDT", "recv_ns": 1667347199939000000,
                                    "expected": 2098021528333, "got": 2098041693435}]
    res = _check(tmp_path / "t")
    assert [(g["line"], g["recv_ns"]) for g in res["gaps"]] == [(2, 1667347199939000000)]
    assert res["feeds"]["kucoin"]["live_books"] == 0  # waiting for a snapshot, as live would


def test_backtest_runs_triangular_over_the_imported_kucoin_capture(shared_data: Path, tmp_path: Path) -> None:
    import_data("cryptofeed", [shared_data / "cryptofeed"], tmp_path / "cf")
    cfg = tmp_path / "tri.toml"
    cfg.write_text('[node]\nname = "bt"\n[venues.kucoin]\nmode = "paper"\n[strategies.triangular]\nenabled = true\n'
                   'min_edge_bps = "10"\nmax_start = { USDT = "100" }\n')
    p = subprocess.run([sys.executable, "-m", "arbkit.cli", "backtest", "--config", str(cfg), "--data", str(tmp_path / "cf"),
                        "--out", str(tmp_path / "out"), "--json"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    s = json.loads(p.stdout)
    assert s["feeds"]["kucoin"]["gaps"] == 0 and s["feeds"]["kucoin"]["rest_snapshots"] > 0
    assert any(n.startswith("triangular: ") and "triangles over" in n for n in s["notes"])
    assert (tmp_path / "out" / "journal.sqlite").is_file()


def test_ssmd_polymarket_books_replay_without_gaps(shared_data: Path, tmp_path: Path) -> None:
    d = shared_data / "ssmd"
    info = import_data("jsonl", [d / "polymarket_book.jsonl", d / "polymarket_trade.jsonl"], tmp_path / "pm", venue="polymarket")
    assert info["lines"] == 20
    res = _check(tmp_path / "pm")
    assert res["gaps"] == [] and res["book_updates"] == 10
    pm = res["feeds"]["polymarket"]
    assert pm["live_books"] == 10 and pm["malformed"] == 0  # each `book` event is a whole book


def test_ssmd_kalshi_capture_shows_its_own_sequence_hole(shared_data: Path, tmp_path: Path) -> None:
    d = shared_data / "ssmd"
    import_data("jsonl", [d / "kalshi_ticker.jsonl", d / "kalshi_trade.jsonl"], tmp_path / "k", venue="kalshi")
    res = _check(tmp_path / "k")
    # the trade channel's seq goes 10 -> 48 in the capture itself (a 10-message sample of a stream)
    assert [(g["line"], json.loads(g["frame"][:g["frame"].index(',"msg"')] + "}")["seq"]) for g in res["gaps"]] == [(12, 48)]
    assert res["feeds"]["kalshi"]["malformed"] == 0

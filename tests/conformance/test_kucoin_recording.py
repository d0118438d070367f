"""KuCoin level-2 sync against the real recording (cryptofeed sample data, 2021-04-25, see
../shared/data/SOURCES.md): every recorded REST snapshot plus the recorded ``trade.l2update``
stream rebuilds its book with arbkit.venues.kucoin.parse.L2Sync (subscribe-and-buffer, snapshot with
its sequence, drop buffered changes <= it, apply the rest in order) with ZERO gaps and an
uncrossed book at the end, on core's crypto book. Skipped when ../shared is absent.

The recording subscribed 10 symbols; LTX-USDT sent no level-2 message and has no snapshot in the
capture, so 9 books are rebuilt (asserted below, so a changed capture is noticed).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from arbkit.core.book import CryptoBook, PyCryptoBook
from arbkit.venues.kucoin.parse import L2Sync, L2Update, SymbolWire, book_digits, l2_changes

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data" / "cryptofeed"
pytestmark = pytest.mark.skipif(not (DATA / "KUCOIN.ws.1.0").is_file(),
                                reason="../shared/data/cryptofeed (the KuCoin recording) is absent")
BOOKS = {"BCHSV-USDT", "SNX-BTC", "CAPP-BTC", "ANKR-BTC", "FET-BTC", "DAPPT-BTC", "NRG-BTC", "COV-BTC", "EQZ-BTC"}


def _symbols() -> dict[str, SymbolWire]:
    rows = json.loads((DATA / "kucoin_api_v1_symbols_2021-04-25.json").read_text())["data"]
    return {r["symbol"]: msgspec.convert(r, SymbolWire) for r in rows}


def _snapshots() -> dict[str, tuple[float, dict]]:
    out = {}
    for line in (DATA / "KUCOIN.http.0.0").read_text().splitlines():
        if " -> " not in line:
            continue
        url, _, rest = line.partition(" -> ")
        ts, _, body = rest.partition(": ")
        sym = url.rsplit("symbol=", 1)[1]
        out[sym] = (float(ts), json.loads(body)["data"])
    return out


def _updates() -> list[tuple[float, L2Update]]:
    out = []
    for line in (DATA / "KUCOIN.ws.1.0").read_text().splitlines():
        if "trade.l2update" not in line:
            continue
        ts, _, frame = line.partition(": ")
        out.append((float(ts), msgspec.convert(json.loads(frame)["data"], L2Update)))
    return out


@pytest.mark.parametrize("book_cls", [CryptoBook, PyCryptoBook], ids=["default", "python"])
def test_recorded_snapshots_plus_changes_rebuild_every_book_without_a_gap(book_cls) -> None:
    symbols, snaps, updates = _symbols(), _snapshots(), _updates()
    assert set(snaps) == BOOKS
    assert {u.symbol for _, u in updates} == BOOKS
    syncs: dict[str, L2Sync] = {}
    for sym in BOOKS:
        s = symbols[sym]
        syncs[sym] = L2Sync(book_cls(*book_digits(Decimal(s.price_increment), Decimal(s.base_increment)),
                                     f"kucoin:{sym}"))
    # replay in receive order; each snapshot is installed when it arrived (updates before it buffer)
    events = [(ts, 1, u) for ts, u in updates] + [(ts, 0, sym) for sym, (ts, _) in snaps.items()]
    events.sort(key=lambda e: (e[0], e[1]))
    after_snapshot: dict[str, int] = {s: 0 for s in BOOKS}
    dropped: dict[str, int] = {s: 0 for s in BOOKS}
    for ts, kind, item in events:
        if kind == 0:
            data = snaps[item][1]
            sync = syncs[item]
            buffered = list(sync.buffer)
            dropped[item] = sum(1 for u in buffered if u.sequence_end <= int(data["sequence"]))
            ok = sync.on_snapshot(int(data["sequence"]), [(Decimal(p), Decimal(q)) for p, q in data["bids"]],
                                  [(Decimal(p), Decimal(q)) for p, q in data["asks"]])
            assert ok, f"{item}: the buffered changes do not join the snapshot"
        else:
            sync = syncs[item.symbol]
            was_live = sync.live
            assert sync.on_update(item), f"{item.symbol}: gap at sequenceStart {item.sequence_start} (book {sync.seq})"
            after_snapshot[item.symbol] += was_live
    for sym, sync in syncs.items():
        assert sync.live and sync.gaps == 0, sym
        assert not sync.book.is_crossed(), f"{sym}: crossed at the end"
        assert sync.book.best_bid() is not None and sync.book.best_ask() is not None, sym
        assert sync.seq == max(u.sequence_end for _, u in updates if u.symbol == sym)
    # the recording exercises both paths: changes buffered before a snapshot and applied after it
    assert sum(after_snapshot.values()) > 1000
    assert sum(dropped.values()) >= 1


def test_no_op_changes_only_move_the_sequence() -> None:
    """``["0","0",seq]`` entries in the recording carry no level; they advance the sequence."""
    zero = [u for _, u in _updates() if any(p == 0 for _, p, _, _ in l2_changes(u))]
    assert zero, "the recording has no-op entries"
    sync = L2Sync(CryptoBook(3, 8, "kucoin:BCHSV-USDT"))
    u = zero[0]
    sync.on_snapshot(u.sequence_start - 1, [(Decimal("240"), Decimal(1))], [(Decimal("250"), Decimal(1))])
    assert sync.on_update(u)
    assert sync.seq == u.sequence_end

"""``arbkit data import``: third-party recordings converted into arbkit recordings (docs/recording.md).

Every format becomes KuCoin level-2 wire data (``kucoin.frames``), the spot venue arbkit's feeds
parse, so the replay runs the KuCoin feed's own parse, sequence sync and books:

* ``cryptofeed``: cryptofeed raw captures of KuCoin itself (``KUCOIN.ws.*``: ``<ts>: <json>``
  received frames; ``KUCOIN.http.*``: ``<url> -> <ts>: <json>`` REST answers; ``KUCOIN.0``: the
  symbols). Frames pass through unchanged; level-2 snapshots become ``#rest orderbook`` lines;
  the symbols become the recording's instruments. Nothing is renumbered.
* ``hftbacktest``: Binance ``<ns> <json>`` lines (gz): ``depthUpdate`` diffs (``U``/``u``) and
  the REST snapshot line (``lastUpdateId``); ``bookTicker`` and trades are skipped (counted).
* ``tardis-l2``: tardis.dev ``incremental_book_L2`` CSV (snapshot rows, then changes).
* ``tardis-snap``: tardis.dev ``book_snapshot_25`` (or any ``book_snapshot_N``) CSV.
* ``jsonl``: one raw WebSocket message of ``--venue`` (polymarket, kalshi, kucoin) per line, no
  receive time (e.g. ssmd's captures): frames pass through unchanged, the time taken from the
  message (Polymarket ``timestamp`` ms, Kalshi ``msg.ts`` s, KuCoin ``data.time`` ms; else the
  previous line's), never going back.
* ``table``: CSV or Parquet (read with DuckDB) with a column mapping: long form, one row per level
  (``ts,symbol,side,price,size`` and optionally ``kind`` snapshot/delta, ``first_id``/``last_id``),
  or wide form, one row per book (``ts,symbol,bid_price,bid_size,ask_price,ask_size`` naming array
  columns, or patterns like ``bids[{i}].price``).

Non-KuCoin sources are renumbered into one KuCoin sequence per symbol (each change its own
number, as KuCoin does); a gap in the source's own update ids (Binance ``U`` not following the
previous ``u``) becomes a hole in the sequence, so the replay sees the gap where the capture has it
(listed in ``import.json``). Instruments are inferred: tick and size increment from the finest
price and size in the data, the fee from ``--fee`` (default 0.1 %, taker and maker).
"""

from __future__ import annotations

import csv
import gzip
import heapq
import io
import json
import re
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

import msgspec

from arbkit.backtest.recording import FORMAT, MANIFEST_FILE, METADATA_FILE, rest_line
from arbkit.venues.common.recorder import frame_line

FORMATS = ("cryptofeed", "hftbacktest", "tardis-l2", "tardis-snap", "table", "jsonl")
QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "USD", "TRY")
DEFAULT_FEE = Decimal("0.001")


class ImportError_(ValueError):
    """The source cannot be imported (unknown format, missing column ...)."""


def _open_text(path: Path) -> IO[str]:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _ns_of_seconds(text: str) -> int:
    """'1619378326.3942132' (seconds) -> ns, exactly."""
    return int(Decimal(text.strip()) * 1_000_000_000)


def _ns_of_any(v: Any) -> int:
    """A timestamp in s, ms, µs or ns (by magnitude), or ISO text -> ns."""
    if isinstance(v, str) and not re.fullmatch(r"\s*\d+(\.\d+)?\s*", v):
        import datetime as _dt

        dt = _dt.datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=_dt.timezone.utc)
        return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000
    if hasattr(v, "timestamp"):  # a datetime from Parquet
        return int(Decimal(str(v.timestamp())) * 1_000_000_000)
    d = Decimal(str(v))
    if d < 10**11:
        return int(d * 1_000_000_000)
    if d < 10**14:
        return int(d * 1_000_000)
    if d < 10**17:
        return int(d * 1000)
    return int(d)


def kucoin_symbol(sym: str) -> str:
    """'btcusdt' -> 'BTC-USDT'; a symbol with a dash is kept (upper case)."""
    s = sym.upper().replace("/", "-").replace("_", "-")
    if "-" in s:
        return s
    for q in QUOTES:
        if s.endswith(q) and len(s) > len(q):
            return f"{s[:-len(q)]}-{q}"
    return s


def _decimals(text: str) -> int:
    t = str(text)
    if "." not in t:
        return 0
    return len(t.split(".", 1)[1].rstrip("0"))


def _plain(v: Any) -> str:
    """A number as plain decimal text (no exponent, no float noise from CSV/Parquet)."""
    d = v if isinstance(v, Decimal) else Decimal(str(v))
    t = format(d, "f")
    return t.rstrip("0").rstrip(".") if "." in t else t


@dataclass
class _Sym:
    seq: int = 0  # our last KuCoin sequence number
    src_last: int | None = None  # the source's last update id (Binance u)
    snap_src: int | None = None  # source id of the last snapshot: diffs at or below it are in it
    price_dp: int = 0
    size_dp: int = 0
    deltas: int = 0
    snapshots: int = 0
    # (source last id, our first, our last sequence) of recent diffs: a snapshot of source id L
    # sits after the last diff with u <= L, so buffered diffs past it are applied, as live
    recent: Any = field(default_factory=lambda: deque(maxlen=100_000))


@dataclass
class KucoinWireWriter:
    """Writes KuCoin level-2 wire lines (and ``#rest orderbook`` snapshots) for any L2 source."""

    out: Path
    fee: Decimal = DEFAULT_FEE
    syms: dict[str, _Sym] = field(default_factory=dict)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    lines: int = 0
    _fh: IO[str] | None = None
    _last_ns: int = 0

    def __post_init__(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.out / "kucoin.frames", "w", encoding="utf-8", buffering=1 << 20)

    def skip(self, what: str) -> None:
        self.skipped[what] = self.skipped.get(what, 0) + 1

    def _write(self, ns: int, line: str) -> None:
        assert self._fh is not None
        ns = max(ns, self._last_ns)  # a frames file is in receive order
        self._last_ns = ns
        self._fh.write(line if line[:1].isdigit() else frame_line(ns, line))
        self.lines += 1

    def _sym(self, sym: str) -> _Sym:
        st = self.syms.get(sym)
        if st is None:
            st = self.syms[sym] = _Sym()
        return st

    def _note(self, st: _Sym, price: str, size: str) -> None:
        st.price_dp = max(st.price_dp, _decimals(price))
        st.size_dp = max(st.size_dp, _decimals(size))

    def delta(self, ns: int, sym: str, changes: list[tuple[bool, str, str]], first_id: int | None = None,
              last_id: int | None = None) -> None:
        st = self._sym(sym)
        if last_id is not None:
            if st.snap_src is not None and last_id <= st.snap_src:
                self.skip("diffs inside the snapshot")
                return
            if st.src_last is not None and last_id <= st.src_last:
                self.skip("duplicate diffs")
                return
            if st.src_last is not None and first_id is not None and first_id > st.src_last + 1:
                self.gaps.append({"symbol": sym, "recv_ns": ns, "expected": st.src_last + 1, "got": first_id})
                st.seq += 1  # a hole: the replay sees the gap where the capture has it
            st.src_last = last_id
        start = st.seq + 1
        asks, bids = [], []
        n = start
        for is_bid, price, size in changes:
            self._note(st, price, size)
            (bids if is_bid else asks).append([price, size, str(n)])
            n += 1
        if n == start:
            asks.append(["0", "0", str(n)])  # a change-less message still moves the sequence on
            n += 1
        st.seq = n - 1
        st.deltas += 1
        if last_id is not None:
            st.recent.append((last_id, start, st.seq))
        self._write(ns, json.dumps({"type": "message", "topic": f"/market/level2:{sym}", "subject": "trade.l2update",
                                    "data": {"sequenceStart": start, "sequenceEnd": st.seq, "symbol": sym,
                                             "changes": {"asks": asks, "bids": bids}, "time": ns // 1_000_000}},
                                   separators=(",", ":")))

    def snapshot(self, ns: int, sym: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]],
                 src_id: int | None = None) -> None:
        st = self._sym(sym)
        for p, s in (*bids, *asks):
            self._note(st, p, s)
        if src_id is not None:
            st.snap_src = src_id
            if st.src_last is None or st.src_last < src_id:
                st.src_last = src_id  # the next diff must start at or before src_id + 1
        seq = st.seq
        if src_id is not None and st.recent:
            inside = [end for u, _, end in st.recent if u <= src_id]
            after = [start for u, start, _ in st.recent if u > src_id]
            seq = max(inside) if inside else (min(after) - 1 if after else st.seq)
        st.snapshots += 1
        self._write(ns, rest_line(ns, f"orderbook {sym}",
                                  [seq, [[p, s] for p, s in bids if Decimal(s) > 0], [[p, s] for p, s in asks if Decimal(s) > 0]]))

    def raw(self, ns: int, text: str) -> None:
        self._write(ns, text)

    def close(self, source: str, instruments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if instruments is None:
            instruments = [self._instrument(sym, st) for sym, st in sorted(self.syms.items())]
        (self.out / METADATA_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(
            {"market_instruments": [], "spot_instruments": {"kucoin": instruments}, "multi_outcome_events": []})))
        (self.out / MANIFEST_FILE).write_text(json.dumps({"format": FORMAT, "venues": ["kucoin"], "imported_from": source},
                                                         indent=1) + "\n")
        info = {"source": source, "lines": self.lines, "symbols": {s: {"deltas": st.deltas, "snapshots": st.snapshots}
                                                                   for s, st in sorted(self.syms.items())},
                "source_gaps": self.gaps, "skipped": dict(sorted(self.skipped.items()))}
        (self.out / "import.json").write_text(json.dumps(info, indent=1) + "\n")
        return info

    def _instrument(self, sym: str, st: _Sym) -> dict[str, Any]:
        base, _, quote = sym.partition("-")
        tick = Decimal(1).scaleb(-st.price_dp)
        inc = Decimal(1).scaleb(-st.size_dp)
        return {"venue": "kucoin", "symbol": sym, "kind": "spot", "tick_size": str(tick), "size_increment": str(inc),
                "quote": quote or "USD", "base": base, "market_id": sym, "title": sym,
                "fee": {"kind": "spot", "taker_rate": str(self.fee), "maker_rate": str(self.fee)}}


# --- cryptofeed (KuCoin's own wire) ---------------------------------------------------------------


_CF_REST = re.compile(r"^(\S+) -> ([0-9.]+): (.*)$")
_CF_WS = re.compile(r"^([0-9.]+): (.*)$")


def _cryptofeed_lines(path: Path) -> Iterator[tuple[int, str, str]]:
    """(ns, kind, payload): kind 'ws' (a received frame) or 'rest:<url>'; sent frames and
    connection lines are skipped."""
    with _open_text(path) as fh:
        for line in fh:
            line = line.rstrip("\n")
            m = _CF_REST.match(line)
            if m:
                yield _ns_of_seconds(m.group(2)), "rest:" + m.group(1), m.group(3)
                continue
            m = _CF_WS.match(line)
            if m:
                yield _ns_of_seconds(m.group(1)), "ws", m.group(2)


def import_cryptofeed(srcs: list[Path], out: Path, fee: Decimal = DEFAULT_FEE) -> dict[str, Any]:
    from arbkit.venues.kucoin.parse import SymbolWire, instrument_from_symbol

    files: list[Path] = []
    for s in srcs:
        files += sorted(p for p in s.iterdir() if p.name.upper().startswith("KUCOIN")) if s.is_dir() else [s]
    w = KucoinWireWriter(out, fee)
    instruments: list[dict[str, Any]] = []
    streams = []
    for f in files:
        if re.search(r"KUCOIN\.\d+$", f.name):  # the symbols file (and cryptofeed's config line)
            for ns, kind, payload in _cryptofeed_lines(f):
                if kind.startswith("rest:") and "/symbols" in kind:
                    rows = json.loads(payload)["data"]
                    for row in rows:
                        try:
                            inst = instrument_from_symbol(msgspec.convert(row, SymbolWire), fee, fee)
                        except (msgspec.ValidationError, ValueError):
                            w.skip("symbols not usable")
                            continue
                        instruments.append(msgspec.to_builtins(inst))
            continue
        streams.append(_cryptofeed_lines(f))
    seen: dict[str, int] = {}  # symbol -> last sequenceEnd (capture gaps)
    for ns, kind, payload in heapq.merge(*streams, key=lambda t: t[0]):
        if kind == "ws":
            try:
                msg = json.loads(payload)
            except ValueError:
                w.skip("undecodable frames")
                continue
            if msg.get("subject") == "trade.l2update":
                d = msg.get("data") or {}
                sym, s0, s1 = d.get("symbol"), int(d.get("sequenceStart", 0)), int(d.get("sequenceEnd", 0))
                last = seen.get(sym)
                if last is not None and s0 > last + 1:
                    w.gaps.append({"symbol": sym, "recv_ns": ns, "expected": last + 1, "got": s0})
                seen[sym] = max(s1, last or 0)
                w._sym(sym).deltas += 1
            w.raw(ns, payload)
        elif "orderbook" in kind:
            body = json.loads(payload)
            data = body.get("data", body)
            sym = re.search(r"symbol=([^&]+)", kind)
            if sym is None:
                w.skip("REST without symbol")
                continue
            w._sym(sym.group(1)).snapshots += 1
            w.raw(ns, rest_line(ns, f"orderbook {sym.group(1)}", [int(data["sequence"]), data["bids"], data["asks"]]))
        else:
            w.skip("other REST")
    return w.close("cryptofeed", instruments)


# --- hftbacktest (Binance) ------------------------------------------------------------------------


def import_hftbacktest(srcs: list[Path], out: Path, fee: Decimal = DEFAULT_FEE, symbol: str | None = None) -> dict[str, Any]:
    files: list[Path] = []
    for s in srcs:
        files += sorted(p for p in s.iterdir() if p.suffix == ".gz") if s.is_dir() else [s]
    w = KucoinWireWriter(out, fee)

    def lines(i: int, f: Path) -> Iterator[tuple[int, int, str]]:
        # the file's symbol, for its snapshot line (which does not name it)
        fsym = symbol or kucoin_symbol(re.sub(r"^binance_(spot|futures)_|_\d{8}.*$", "", f.name.split(".")[0]))
        with _open_text(f) as fh:
            for line in fh:
                sp = line.find(" ")
                if sp > 0 and line[:sp].isdigit():
                    yield int(line[:sp]), i, fsym + "\t" + line[sp + 1:].rstrip("\n")

    for ns, _, text in heapq.merge(*(lines(i, f) for i, f in enumerate(files)), key=lambda t: (t[0], t[1])):
        fsym, _, payload = text.partition("\t")
        try:
            msg = json.loads(payload)
        except ValueError:
            w.skip("undecodable lines")
            continue
        if "lastUpdateId" in msg:
            w.snapshot(ns, fsym, [(p, s) for p, s in msg["bids"]], [(p, s) for p, s in msg["asks"]], int(msg["lastUpdateId"]))
            continue
        d = msg.get("data", msg)
        if d.get("e") != "depthUpdate":
            w.skip(str(msg.get("stream", "other")).split("@", 1)[-1])
            continue
        sym = symbol or kucoin_symbol(d["s"])
        changes = [(True, p, s) for p, s in d.get("b", [])] + [(False, p, s) for p, s in d.get("a", [])]
        w.delta(ns, sym, changes, int(d["U"]), int(d["u"]))
    return w.close("hftbacktest")


# --- tardis CSV -----------------------------------------------------------------------------------


def _csv_rows(path: Path) -> Iterator[dict[str, str]]:
    with _open_text(path) as fh:
        yield from csv.DictReader(fh)


def import_tardis_l2(srcs: list[Path], out: Path, fee: Decimal = DEFAULT_FEE) -> dict[str, Any]:
    """incremental_book_L2: rows sharing (symbol, local_timestamp, is_snapshot) are one message."""
    w = KucoinWireWriter(out, fee)
    group: list[dict[str, str]] = []

    def flush() -> None:
        if not group:
            return
        r0 = group[0]
        ns, sym = _ns_of_any(r0["local_timestamp"]), kucoin_symbol(r0["symbol"])
        if r0["is_snapshot"].lower() == "true":
            w.snapshot(ns, sym, [(_plain(r["price"]), _plain(r["amount"])) for r in group if r["side"] == "bid"],
                       [(_plain(r["price"]), _plain(r["amount"])) for r in group if r["side"] == "ask"])
        else:
            w.delta(ns, sym, [(r["side"] == "bid", _plain(r["price"]), _plain(r["amount"])) for r in group])
        group.clear()

    for src in srcs:
        for r in _csv_rows(src):
            if group and (r["symbol"], r["local_timestamp"], r["is_snapshot"]) != (
                    group[0]["symbol"], group[0]["local_timestamp"], group[0]["is_snapshot"]):
                flush()
            group.append(r)
        flush()
    return w.close("tardis-l2")


def _wide_levels(row: dict[str, Any], price_col: str, size_col: str) -> list[tuple[str, str]]:
    """Levels of one side from array columns (lists, or JSON text) or ``{i}`` column patterns."""
    if "{i}" in price_col:
        out = []
        i = 0
        while price_col.format(i=i) in row:
            p, s = row.get(price_col.format(i=i)), row.get(size_col.format(i=i))
            i += 1
            if p in (None, "") or s in (None, ""):
                continue
            out.append((_plain(p), _plain(s)))
        return out
    ps, ss = row[price_col], row[size_col]
    if isinstance(ps, str):
        ps, ss = json.loads(ps), json.loads(ss)
    return [(_plain(p), _plain(s)) for p, s in zip(ps or [], ss or [])]


def import_tardis_snap(srcs: list[Path], out: Path, fee: Decimal = DEFAULT_FEE) -> dict[str, Any]:
    mapping = {"ts": "local_timestamp", "symbol": "symbol", "bid_price": "bids[{i}].price", "bid_size": "bids[{i}].amount",
               "ask_price": "asks[{i}].price", "ask_size": "asks[{i}].amount"}
    return _import_table(srcs, out, mapping, fee, "tardis-snap")


# --- tables (CSV / Parquet with a column mapping) -------------------------------------------------


def parse_mapping(text: str | None) -> dict[str, str]:
    """'ts=timestamp,symbol=sym,price=px' -> dict."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if part.strip():
            k, sep, v = part.partition("=")
            if not sep:
                raise ImportError_(f"--map entry {part!r} is not key=column")
            out[k.strip()] = v.strip()
    return out


def _table_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a CSV or Parquet file, streamed (DuckDB reads both; CSV columns as text)."""
    import duckdb

    con = duckdb.connect()
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            rel = con.execute("SELECT * FROM read_parquet(?)", [str(path)])
        else:
            rel = con.execute("SELECT * FROM read_csv(?, all_varchar=true, header=true)", [str(path)])
        cols = [d[0] for d in rel.description]
        while True:
            batch = rel.fetchmany(4096)
            if not batch:
                break
            for row in batch:
                yield dict(zip(cols, row))
    finally:
        con.close()


def _import_table(srcs: list[Path], out: Path, mapping: dict[str, str], fee: Decimal, source: str,
                  symbol: str | None = None) -> dict[str, Any]:
    w = KucoinWireWriter(out, fee)
    wide = "bid_price" in mapping
    need = ["ts", "bid_price", "bid_size", "ask_price", "ask_size"] if wide else ["ts", "side", "price", "size"]
    missing = [k for k in need if k not in mapping]
    if missing or (symbol is None and "symbol" not in mapping):
        raise ImportError_(f"--map needs {', '.join(missing + ([] if symbol or 'symbol' in mapping else ['symbol']))}")
    group: list[dict[str, Any]] = []
    key_of = (lambda r: (r[mapping["symbol"]] if "symbol" in mapping else symbol, r[mapping["ts"]],
                         r.get(mapping.get("kind", ""), "")))

    def sym_of(r: dict[str, Any]) -> str:
        return symbol or kucoin_symbol(str(r[mapping["symbol"]]))

    def is_bid(v: Any) -> bool:
        return str(v).lower() in ("b", "bid", "bids", "buy")

    def flush() -> None:
        if not group:
            return
        r0 = group[0]
        ns, sym = _ns_of_any(r0[mapping["ts"]]), sym_of(r0)
        kind = str(r0.get(mapping.get("kind", ""), "")).lower()
        levels = [(is_bid(r[mapping["side"]]), _plain(r[mapping["price"]]), _plain(r[mapping["size"]])) for r in group]
        first = int(r0[mapping["first_id"]]) if "first_id" in mapping else None
        last = int(r0[mapping["last_id"]]) if "last_id" in mapping else None
        if kind in ("snap", "snapshot", "true", "1"):
            w.snapshot(ns, sym, [(p, s) for b, p, s in levels if b], [(p, s) for b, p, s in levels if not b], last)
        else:
            w.delta(ns, sym, levels, first, last)
        group.clear()

    for src in srcs:
        for r in _table_rows(src):
            if wide:
                w.snapshot(_ns_of_any(r[mapping["ts"]]), sym_of(r), _wide_levels(r, mapping["bid_price"], mapping["bid_size"]),
                           _wide_levels(r, mapping["ask_price"], mapping["ask_size"]))
                continue
            if group and key_of(r) != key_of(group[0]):
                flush()
            group.append(r)
        flush()
    return w.close(source)


def _message_ns(venue: str, msg: Any) -> int | None:
    try:
        if isinstance(msg, list):
            msg = msg[0] if msg else {}
        if venue == "polymarket" and msg.get("timestamp"):
            return _ns_of_any(msg["timestamp"])
        if venue == "kalshi" and (msg.get("msg") or {}).get("ts"):
            return _ns_of_any(msg["msg"]["ts"])
        if venue == "kucoin" and (msg.get("data") or {}).get("time"):
            return _ns_of_any(msg["data"]["time"])
    except (ValueError, TypeError, AttributeError, ArithmeticError):
        return None
    return None


def import_jsonl(srcs: list[Path], out: Path, venue: str) -> dict[str, Any]:
    """Raw venue messages, one a line, with no receive time: the venue's own frames file."""
    if venue not in ("polymarket", "kalshi", "kucoin"):
        raise ImportError_("jsonl needs --venue polymarket, kalshi or kucoin")
    out.mkdir(parents=True, exist_ok=True)
    last = 0
    lines = skipped = 0
    with open(out / f"{venue}.frames", "w", encoding="utf-8") as fh:
        for src in srcs:
            with _open_text(src) as inp:
                for line in inp:
                    text = line.strip()
                    if not text:
                        continue
                    try:
                        msg = json.loads(text)
                    except ValueError:
                        skipped += 1
                        continue
                    ns = _message_ns(venue, msg)
                    last = max(last + 1 if ns is None else ns, last)
                    fh.write(frame_line(last, text))
                    lines += 1
    (out / MANIFEST_FILE).write_text(json.dumps({"format": FORMAT, "venues": [venue], "imported_from": "jsonl"}, indent=1) + "\n")
    info = {"source": "jsonl", "lines": lines, "symbols": {}, "source_gaps": [], "skipped": {"undecodable lines": skipped} if skipped else {}}
    (out / "import.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def import_data(fmt: str, srcs: Iterable[Path], out: Path, *, mapping: str | None = None, symbol: str | None = None,
                fee: Decimal = DEFAULT_FEE, venue: str | None = None) -> dict[str, Any]:
    srcs = list(srcs)
    for s in srcs:
        if not s.exists():
            raise ImportError_(f"no such file or directory: {s}")
    if fmt == "cryptofeed":
        return import_cryptofeed(srcs, out, fee)
    if fmt == "hftbacktest":
        return import_hftbacktest(srcs, out, fee, symbol)
    if fmt == "tardis-l2":
        return import_tardis_l2(srcs, out, fee)
    if fmt == "tardis-snap":
        return import_tardis_snap(srcs, out, fee)
    if fmt == "table":
        return _import_table(srcs, out, parse_mapping(mapping), fee, "table", symbol)
    if fmt == "jsonl":
        return import_jsonl(srcs, out, venue or "")
    raise ImportError_(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


__all__ = ["FORMATS", "ImportError_", "KucoinWireWriter", "import_data", "kucoin_symbol", "parse_mapping"]

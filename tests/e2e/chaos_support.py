"""Shared parts of the chaos tests (the black-box one here, the in-process ones under
tests/unit/execution): the simulator and node configuration (reusing ``arbkit.runtime.demo``),
a tail of the journal, the venue-side view read from the simulator's admin endpoint, and the
invariants checked after a run of kills, with the figures printed at the end.

Every invariant is checked at the venue (the simulator) against the journal:

* no client order id has two orders at the venue (Polymarket orders carry no client order id on
  the wire: an order is tied to one by its signed salt, which the gateway derives from the
  client order id (``signer.salt_for``), or by an order hash / venue order id the journal holds);
* every venue order is known to the journal;
* every saga is reported once (once more after each ``SagaReopened``), or HELD (not reported)
  with a ``ResidualAlerted`` journaled by the last incarnation;
* the journal's fills, as a multiset of (trade id, quantity), equal the venue's trades for our
  accounts (FAILED trades excluded on both sides);
* positions rebuilt from the journal's fills equal the venue's positions per instrument, exactly
  (Polymarket per token; Kalshi nets YES against NO per ticker, so per ticker);
* every provisional stand-in fill (trade id containing ``:unreported:``) was later retired;
* the day's loss never exceeded the configured limit (journal reports and venue cash + marks).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

import arbkit.execution.events  # noqa: F401  (the journal decodes records by their Event class)
from arbkit.journal.store import Journal
from arbkit.runtime import demo
from arbkit.venues.polymarket.signer import salt_for

ZERO = Decimal(0)
UNREPORTED = ":unreported:"
ORDER_ANSWER_KINDS = {"OrderAccepted", "OrderRejected", "OrderFilled", "OrderCanceled", "OrderExpired", "LegFilled"}


# --- simulator and node configuration -------------------------------------------------------------


def start_sim(run_dir: Path, seed: int, lifetime_s: float = 900.0) -> demo.SimProcess:
    """``arbkit sim --venues polymarket,kalshi --scenario demo --seed N --info-file ...`` as the
    demo starts it (a child in its own session, told to die with us)."""
    # the venues these checks read (the demo also serves KuCoin; its triangles have their own chaos
    # test, tests/unit/execution/test_chaos_triangular.py)
    sim = demo.SimProcess(run_dir, f"chaos{os.getpid()}x{seed}", seed, lifetime_s, venues="polymarket,kalshi")
    sim.start()
    try:
        asyncio.run(sim.wait_ready())
    except BaseException:
        sim.stop()
        raise
    return sim


def node_env(info: dict[str, Any]) -> dict[str, str]:
    """The process environment of a node: ours, the test keys passed the way the demo passes
    them (named environment variables), and the arbkit this test imported first on the path."""
    import arbkit

    src = str(Path(arbkit.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=src + (os.pathsep + path if path else ""), PYTHONUNBUFFERED="1",
                **{demo.POLY_KEY_ENV: info["polymarket"]["accounts"][0]["private_key"],
                   demo.KALSHI_KEY_ID_ENV: info["kalshi"]["accounts"][0]["key_id"]})


def write_node_config(info: dict[str, Any], run_dir: Path, journal: Path, *, venues: tuple[str, ...] = ("polymarket", "kalshi"),
                      strategy: bool = True, daily_loss: str | None = None, name: str = "node.toml") -> Path:
    """The demo's node configuration (mode sim, all risk limits set, cross-venue strategy on),
    optionally without one of the venues, with the strategy off (a driver sends its own) or
    another daily loss limit (a driver buying without an edge loses by design)."""
    text = demo.demo_config_text(info, journal, f"ipc://{run_dir / 'control.ipc'}")
    if daily_loss is not None:
        head, sep, rest = text.partition("daily_loss_limit = ")
        assert sep, "the demo configuration has no daily loss limit"
        text = head + sep + json.dumps(daily_loss) + rest[rest.index("\n"):]
    if not strategy:
        on = "[strategies.cross_venue]\nenabled = true\n"
        assert on in text, "the demo configuration's strategy table changed"
        text = text.replace(on, "[strategies.cross_venue]\nenabled = false\n")
    for v in ("polymarket", "kalshi"):
        if v not in venues:
            head, sep, rest = text.partition(f"[venues.{v}]\n")
            assert sep, f"the demo configuration has no [venues.{v}] table"
            _, _, tail = rest.partition("\n\n")
            text = head + tail
    path = run_dir / name
    path.write_text(text)
    return path


def daily_loss_limit(config_path: Path) -> Decimal:
    from arbkit.runtime.config import load_config

    lim = load_config(config_path).risk.daily_loss_limit
    assert lim is not None, "the chaos runs need a daily loss limit"
    return Decimal(str(lim))


def approve_mappings(info: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    return asyncio.run(demo.approve_twins(info, path))


class Dislocator:
    """The demo's dislocator (``demo._dislocator``) on its own thread and event loop."""

    def __init__(self, info: dict[str, Any], every_s: float) -> None:
        self.info, self.every_s = info, every_s
        self.log: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="chaos-dislocator", daemon=True)
        self._ready = threading.Event()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            self._ready.set()
            await demo._dislocator(self.info, self.every_s, self._stop, self.log)

        self._loop.run_until_complete(main())

    def start(self) -> "Dislocator":
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)


# --- the simulator's admin endpoint ---------------------------------------------------------------


def admin(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=15) as r:  # noqa: S310 - loopback admin endpoint
        return json.loads(r.read())


def accounts(info: dict[str, Any]) -> dict[str, str]:
    return {"polymarket": info["polymarket"]["accounts"][0]["address"].lower(),
            "kalshi": info["kalshi"]["accounts"][0]["key_id"]}


def venue_snapshot(info: dict[str, Any], venues: tuple[str, ...] = ("polymarket", "kalshi")) -> dict[str, Any]:
    """Our accounts at the venue: orders, trades, positions, balances."""
    out: dict[str, Any] = {}
    for v, acct in accounts(info).items():
        if v not in venues:
            continue
        a = admin(f"{info['admin_url']}/accounts/{v}/{acct}")
        out[v] = {"account": acct, "orders": admin(f"{info['admin_url']}/orders/{v}?account={acct}"),
                  "trades": admin(f"{info['admin_url']}/trades/{v}?account={acct}"),
                  "positions": a["positions"], "balances": a["balances"]}
    return out


def venue_positions(snap: dict[str, Any]) -> dict[str, Decimal]:
    """Instrument key -> quantity: Polymarket ``polymarket:<token>``; Kalshi ``kalshi:<ticker>``
    as YES minus NO (the venue nets them)."""
    out: dict[str, Decimal] = {}
    for p in snap.get("polymarket", {}).get("positions", []):
        out[f"polymarket:{p['symbol']}"] = out.get(f"polymarket:{p['symbol']}", ZERO) + Decimal(str(p["size"]))
    for p in snap.get("kalshi", {}).get("positions", []):
        sign = 1 if p["outcome"] == "YES" else -1
        k = f"kalshi:{p['market_id']}"
        out[k] = out.get(k, ZERO) + sign * Decimal(str(p["size"]))
    return {k: v for k, v in out.items() if v != 0}


def venue_cash(snap: dict[str, Any]) -> Decimal:
    return sum((Decimal(str(b["total"])) for v in snap.values() for b in v["balances"]), ZERO)


def mark_value(info: dict[str, Any], positions: dict[str, Decimal]) -> Decimal:
    """Positions valued at the venue's current mid (a one-sided book at its side, none at 0)."""
    total = ZERO
    for key, q in positions.items():
        venue, _, sym = key.partition(":")
        try:
            book = admin(f"{info['admin_url']}/books/{venue}/{sym}" + ("?outcome=YES" if venue == "kalshi" else ""))
        except Exception:  # noqa: BLE001 - unpriced: valued at 0
            continue
        bids = [Decimal(str(p)) for p, _ in book.get("bids", [])]
        asks = [Decimal(str(p)) for p, _ in book.get("asks", [])]
        bb, ba = (max(bids) if bids else None), (min(asks) if asks else None)
        mid = (bb + ba) / 2 if bb is not None and ba is not None else (bb if bb is not None else (ba if ba is not None else ZERO))
        if venue == "kalshi" and q < 0:
            total += -q * (1 - mid)
        else:
            total += q * mid
    return total


# --- the journal ------------------------------------------------------------------------------------


class JournalTail:
    """New committed records of a journal another process writes (plain read-only SQLite; the
    journal's own reader checks CRCs, which polling does not need)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.last = 0
        self._con: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection | None:
        if self._con is None:
            if not self.path.exists():
                return None
            try:
                self._con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=1.0, check_same_thread=False)
            except sqlite3.Error:
                return None
        return self._con

    def poll(self) -> list[tuple[int, int, str, str]]:
        con = self._connect()
        if con is None:
            return []
        try:
            rows = con.execute("SELECT seq, ts_ns, kind, correlation_id FROM journal WHERE seq > ? ORDER BY seq",
                               (self.last,)).fetchall()
        except sqlite3.Error:
            return []
        if rows:
            self.last = rows[-1][0]
        return rows

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


@dataclass
class JournalView:
    """Everything the checks need from a journal, in seq order."""

    records: list[tuple[int, int, str, str, Any]] = field(default_factory=list)  # seq, ts, kind, cid, decoded

    @classmethod
    def read(cls, path: Path) -> "JournalView":
        j = Journal.open(path, readonly=True)
        try:
            view = cls()
            for rec in j.replay():
                try:
                    ev = rec.decode()
                except Exception:  # noqa: BLE001 - not an event class: keep its JSON
                    ev = _json(rec.payload)
                view.records.append((rec.seq, rec.ts_ns, rec.kind, rec.correlation_id, ev))
            return view
        finally:
            j.close_sync()

    def of(self, *kinds: str) -> list[tuple[int, int, str, str, Any]]:
        return [r for r in self.records if r[2] in kinds]

    # --- sagas ---------------------------------------------------------------------------------

    def started(self) -> dict[str, int]:
        return {ev.execution_id: ts for _, ts, _, _, ev in self.of("ExecutionStarted")}

    def reported(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for _, ts, _, _, ev in self.of("ExecutionReported"):
            out.setdefault(ev.report.execution_id, []).append(ts)
        return out

    def reports(self) -> list[Any]:
        return [ev.report for _, _, _, _, ev in self.of("ExecutionReported")]

    def alerts(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for _, ts, _, _, ev in self.of("ResidualAlerted"):
            out.setdefault(ev.execution_id, []).append(ts)
        return out

    def submitted(self) -> dict[str, Any]:
        """client order id -> its LegSubmitted (the first one)."""
        out: dict[str, Any] = {}
        for _, ts, _, _, ev in self.of("LegSubmitted"):
            out.setdefault(ev.client_order_id, (ts, ev))
        return out

    # --- fills ---------------------------------------------------------------------------------

    def fills(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(client order id, trade id) -> the fill as the journal finally holds it: the numbers
        of its last report, the status of its last report or status change."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for seq, ts, kind, _, ev in self.of("OrderFilled", "FillStatusChanged"):
            key = (ev.client_order_id, ev.trade_id)
            if kind == "OrderFilled":
                prev = out.get(key)
                out[key] = {"quantity": ev.quantity, "price": ev.price, "status": ev.status.value, "venue": ev.venue.value,
                            "instrument_id": ev.instrument_id, "side": ev.side, "seq": seq, "reports": (prev or {}).get("reports", 0) + 1}
            elif key in out:
                out[key]["status"] = ev.status.value
        return out

    def order_identities(self) -> dict[str, str]:
        """Every venue-side identity the journal ties to a client order id: venue order ids /
        order hashes (any record carrying one next to a client order id) and signed salts."""
        ids: dict[str, str] = {}
        for _, _, _, _, ev in self.records:
            d = ev if isinstance(ev, dict) else _builtins(ev)
            outer = d.get("client_order_id") if isinstance(d, dict) else None
            for obj in _dicts(d):
                coid = obj.get("client_order_id") or obj.get("coid") or outer
                if not isinstance(coid, str) or not coid:
                    continue
                for k in ("venue_order_id", "order_hash", "order_id", "orderID", "hash"):
                    v = obj.get(k)
                    if isinstance(v, str) and v:
                        ids.setdefault(v.lower(), coid)
                salt = obj.get("salt")
                if isinstance(salt, (int, str)) and str(salt).isdigit():
                    ids.setdefault(f"salt:{int(salt)}", coid)
        return ids


def _json(payload: bytes) -> Any:
    try:
        return msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return {}


def _builtins(ev: Any) -> Any:
    try:
        return msgspec.to_builtins(ev)
    except Exception:  # noqa: BLE001
        return {}


def _dicts(obj: Any, depth: int = 0):  # type: ignore[no-untyped-def]
    if depth > 4:
        return
    if isinstance(obj, str) and obj[:1] in "{[":
        with contextlib.suppress(ValueError):
            obj = json.loads(obj)  # a JSON text inside a record (e.g. OrderPrepared.prepared)
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from _dicts(v, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            yield from _dicts(v, depth + 1)


# --- kills ---------------------------------------------------------------------------------------


@dataclass
class Kill:
    """One SIGKILL of the trading process. ``dead_ns``: wall time once it was seen dead (every
    record the process journaled is older; the next incarnation starts later)."""

    how: str  # what aimed it: "random", "saga", "leg-submitted", "recovery", "trap:..."
    spawn_ns: int
    dead_ns: int
    recovery_started: bool = False  # the incarnation had begun recovering
    recovery_done: bool = False  # ... and finished
    had_work: bool = False  # the journal showed interrupted sagas when it started
    # filled in by classify()
    in_saga: bool = False
    in_leg_window: bool = False

    @property
    def in_recovery(self) -> bool:
        return self.recovery_started and not self.recovery_done


class SagaWatch:
    """Follows a journal another process writes: the sagas open (started, not reported), and
    per incarnation of the writer its first record and the sagas it touched."""

    def __init__(self, journal: Path) -> None:
        self.tail = JournalTail(journal)
        self.open: set[str] = set()
        self.spawn_ns = 0
        self.first_record_ns = 0
        self.touched: set[str] = set()

    def begin(self, spawn_ns: int) -> None:
        self.poll()
        self.spawn_ns, self.first_record_ns, self.touched = spawn_ns, 0, set()

    def poll(self) -> list[tuple[int, int, str, str]]:
        rows = self.tail.poll()
        for _, ts, kind, cid in rows:
            if self.spawn_ns and ts >= self.spawn_ns:
                self.first_record_ns = self.first_record_ns or ts
                if cid:
                    self.touched.add(cid)
            if kind == "ExecutionStarted":
                self.open.add(cid)
            elif kind == "ExecutionReported":
                self.open.discard(cid)
        return rows

    def wait(self, until, timeout_s: float, alive=None, interval_s: float = 0.001) -> bool:  # type: ignore[no-untyped-def]
        """Poll until ``until(rows)`` holds for the new rows (True), or the timeout passes or
        ``alive()`` turns false (False)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if until(self.poll()):
                return True
            if alive is not None and not alive():
                return False
            time.sleep(interval_s)
        return False

    def active(self) -> set[str]:
        """Sagas open now that this incarnation worked on."""
        return self.open & self.touched

    def close(self) -> None:
        self.tail.close()


def classify(view: JournalView, kills: list[Kill]) -> None:
    """Mark each kill inside a saga (a saga started and not reported at the kill, which the
    killed incarnation was working on: it journaled something of it) and inside the window
    between a LegSubmitted and the venue's first answer journaled for that order."""
    started = view.started()
    reported = {eid: min(tss) for eid, tss in view.reported().items()}
    subs = view.submitted()
    first_answer: dict[str, int] = {}
    touched: list[tuple[int, str]] = []
    for _, ts, kind, cid, ev in view.records:
        if cid:
            touched.append((ts, cid))
        if kind in ORDER_ANSWER_KINDS:
            coid = getattr(ev, "client_order_id", "")
            if coid and coid not in first_answer:
                first_answer[coid] = ts
    for k in kills:
        open_ = {eid for eid, ts in started.items() if ts <= k.dead_ns and reported.get(eid, 1 << 62) > k.dead_ns}
        k.in_saga = any(cid in open_ for ts, cid in touched if k.spawn_ns <= ts <= k.dead_ns)
        k.in_leg_window = any(k.spawn_ns <= ts <= k.dead_ns and first_answer.get(coid, 1 << 62) > k.dead_ns
                              for coid, (ts, _) in subs.items())


# --- the invariants ------------------------------------------------------------------------------


@dataclass
class Outcome:
    failures: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def fail(self, what: str) -> None:
        self.failures.append(what)


def _pm_trade_key(t: dict[str, Any], acct: str) -> str:
    from arbkit.sim.polymarket.state import stable_uuid

    tid = stable_uuid("trade", t["match_id"])
    return f"{tid}:{t['maker_order_id']}" if t["taker_account"] == acct else tid


def check_run(view: JournalView, info: dict[str, Any], snap: dict[str, Any], baseline: dict[str, Any], *,
              prefix: str | None = None, loss_limit: Decimal | None = None,
              venues: tuple[str, ...] = ("polymarket", "kalshi"), final_start_ns: int = 0) -> Outcome:
    """Check every invariant (see the module docstring); ``prefix`` limits the sagas looked at
    to execution ids starting with it (None: all of them)."""
    out = Outcome()
    acct = accounts(info)
    subs = view.submitted()
    mine = {c for c, (_, ev) in subs.items() if prefix is None or ev.execution_id.startswith(prefix)}
    # 1. one order per client order id at the venue, every venue order known to the journal
    ids = view.order_identities()
    salts = {salt_for(c): c for c in subs}
    dup_total = 0
    unknown_total = 0
    for v in venues:
        per_coid: Counter[str] = Counter()
        unknown: list[str] = []
        for o in snap[v]["orders"]:
            if v == "kalshi":
                coid = o["client_order_id"] if o["client_order_id"] in subs else None
            else:
                salt = (o.get("meta") or {}).get("salt")
                coid = (salts.get(int(salt)) if salt is not None else None) or ids.get(o["order_id"].lower()) \
                    or (ids.get(f"salt:{int(salt)}") if salt is not None else None)
            if coid is None:
                unknown.append(f"{o['order_id']} ({o['symbol']} {o['side']} {o['size']}@{o['price']} {o['status']})")
            else:
                per_coid[coid] += 1
        dups = {c: n for c, n in per_coid.items() if n > 1}
        dup_total += sum(n - 1 for n in dups.values())
        unknown_total += len(unknown)
        out.figures[f"{v}_orders"] = len(snap[v]["orders"])
        if dups:
            out.fail(f"{v}: {len(dups)} client order id(s) with more than one order at the venue "
                     f"({sum(dups.values())} orders): {sorted(dups.items())[:8]}")
        if unknown:
            out.fail(f"{v}: {len(unknown)} order(s) at the venue the journal cannot tie to a client order id: {unknown[:5]}")
    out.figures["duplicates"] = dup_total
    out.figures["unattributed_orders"] = unknown_total
    # 2. every saga reported once, or held with an alert
    started = view.started()
    reported = view.reported()
    alerts = view.alerts()
    sagas = {e for e in started if prefix is None or e.startswith(prefix)}
    # a reported saga may be reopened (a late or corrected fill) and reported again: one report
    # more than its reopenings is one too many
    reopened = Counter(getattr(ev, "execution_id", "") for _, _, _, _, ev in view.of("SagaReopened"))
    twice = {e: len(t) for e, t in reported.items() if len(t) > 1 + reopened.get(e, 0)}
    out.figures["reopened"] = sum(reopened[e] for e in sagas)
    last: dict[str, str] = {}  # execution id -> the last of its reports and reopenings
    for _, _, kind, _, ev in view.of("ExecutionReported", "SagaReopened"):
        last[ev.report.execution_id if kind == "ExecutionReported" else ev.execution_id] = kind
    unreported = {e for e in sagas if last.get(e) != "ExecutionReported"}
    held = {e for e in unreported if any(ts >= final_start_ns for ts in alerts.get(e, []))}
    open_ = unreported - held
    out.figures.update(sagas=len(sagas), held=len(held), not_terminal=len(open_), reported_twice=len(twice))
    if twice:
        out.fail(f"{len(twice)} saga(s) reported more than once without being reopened: {sorted(twice.items())[:5]}")
    if open_:
        out.fail(f"{len(open_)} saga(s) neither reported nor held with an alert: {sorted(open_)[:8]}")
    # 3. fills: journal (coid, trade id) finals vs the venue's trades, as multisets
    fills = view.fills()
    jm: Counter[tuple[str, Decimal]] = Counter()
    standins_open = []
    for (coid, tid), f in fills.items():
        if coid not in subs:
            continue
        if UNREPORTED in tid:
            if f["status"] != "FAILED":
                standins_open.append(f"{tid} ({f['quantity']}, {f['status']})")
            continue
        if f["status"] != "FAILED":
            jm[(tid, f["quantity"])] += 1
    vm: Counter[tuple[str, Decimal]] = Counter()
    for v in venues:
        for t in snap[v]["trades"]:
            if t.get("status") == "FAILED":
                continue
            if acct[v] not in (t["taker_account"], t["maker_account"]):
                continue
            key = _pm_trade_key(t, acct[v]) if v == "polymarket" else t["trade_id"]
            vm[(key, Decimal(str(t["size"])))] += 1
    only_j, only_v = jm - vm, vm - jm
    out.figures.update(journal_fills=sum(jm.values()), venue_fills=sum(vm.values()),
                       fills_only_in_journal=sum(only_j.values()), fills_only_at_venue=sum(only_v.values()),
                       standins_not_retired=len(standins_open),
                       standins=sum(1 for (_, t) in fills if UNREPORTED in t))
    if only_j or only_v:
        out.fail(f"fills differ: {sum(only_j.values())} only in the journal {sorted(only_j.items())[:4]}, "
                 f"{sum(only_v.values())} only at the venue {sorted(only_v.items())[:4]}")
    if standins_open:
        out.fail(f"{len(standins_open)} provisional stand-in fill(s) never retired: {standins_open[:5]}")
    # 4. positions: journal (every counting fill of a journaled order) vs venue, per instrument
    jpos: dict[str, Decimal] = {}
    for (coid, tid), f in fills.items():
        if coid not in subs or f["status"] == "FAILED":
            continue
        _, leg = subs[coid]
        sign = leg.side.sign
        if leg.instrument.venue.value == "kalshi":
            ticker, _, outcome = leg.instrument.symbol.rpartition(":")
            key, sign = f"kalshi:{ticker}", sign * (1 if outcome.lower() == "yes" else -1)
        else:
            key = f"polymarket:{leg.instrument.symbol}"
        jpos[key] = jpos.get(key, ZERO) + sign * f["quantity"]
    vpos = venue_positions(snap)
    base = venue_positions(baseline)
    mism = {}
    for k in set(jpos) | set(vpos) | set(base):
        have = vpos.get(k, ZERO) - base.get(k, ZERO)
        if have != jpos.get(k, ZERO):
            mism[k] = (f"venue {have}", f"journal {jpos.get(k, ZERO)}")
    out.figures["position_mismatches"] = len(mism)
    out.figures["instruments_traded"] = len([k for k in jpos if jpos[k] or k in vpos])
    if mism:
        out.fail(f"{len(mism)} position(s) differ between the venue and the journal: {sorted(mism.items())[:6]}")
    # 5. the day's loss
    if loss_limit is not None:
        run = worst = ZERO
        for r in view.reports():
            run += r.profit
            worst = min(worst, run)
        cash0, cash1 = venue_cash(baseline), venue_cash(snap)
        venue_pnl = (cash1 - cash0) + mark_value(info, vpos) - mark_value(info, base)
        out.figures.update(journal_pnl=str(run), journal_worst=str(worst), venue_pnl=str(venue_pnl.quantize(Decimal("0.000001"))))
        if -worst > loss_limit:
            out.fail(f"the journal's realised loss reached {-worst}, over the daily limit {loss_limit}")
        if -venue_pnl > loss_limit:
            out.fail(f"the venue shows a loss of {-venue_pnl} (cash + positions at mid), over the daily limit {loss_limit}")
    return out


def kill_figures(kills: list[Kill]) -> dict[str, int]:
    return {"kills": len(kills), "kills_inside_sagas": sum(k.in_saga for k in kills),
            "kills_in_leg_window": sum(k.in_leg_window for k in kills),
            "kills_inside_recovery": sum(k.in_recovery for k in kills),
            "kills_inside_recovery_with_work": sum(k.in_recovery and k.had_work for k in kills)}


def write_kills(kills: list[Kill], path: Path) -> None:
    """One line per kill (for reading a run afterwards)."""
    with contextlib.suppress(OSError):
        path.write_text("".join(f"{i:3d} {k.how:<28} saga={int(k.in_saga)} leg_window={int(k.in_leg_window)} "
                                f"recovery={int(k.in_recovery)} had_work={int(k.had_work)} "
                                f"lived_ms={(k.dead_ns - k.spawn_ns) // 1_000_000}\n" for i, k in enumerate(kills)))


def report(title: str, figures: dict[str, Any], failures: list[str], path: Path | None = None) -> str:
    lines = [f"== {title}", *(f"  {k}: {v}" for k, v in figures.items())]
    lines += [f"  FAIL: {f}" for f in failures] or ["  all invariants hold"]
    text = "\n".join(lines)
    print(text)
    if path is not None:
        with contextlib.suppress(OSError):
            path.write_text(text + "\n" + json.dumps({"figures": figures, "failures": failures}, default=str) + "\n")
    return text

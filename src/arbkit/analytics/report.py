"""The report's figures: SQL over the journal's records in DuckDB.

Definitions (what each figure means, so it can be checked against the journal by hand):

* **Executions** are the journal's ``ExecutionReported`` records (the last one per execution
  id, should recovery report one twice). ``unfinished`` counts executions risk approved
  (``ExecutionStarted``) that have no report yet.
* **PnL** is the report's ``profit`` (realised cash flow in the execution's primary quote plus
  the payout of matched sets), summed exactly (DECIMAL). Profits in different currencies are
  never added together: every PnL row carries its currency. "Venue" is the set of venues an
  execution traded on (``kalshi+polymarket`` for a cross-venue pair): a cross-venue profit only
  exists for the pair, so it is not split between the venues. Fees are also given per venue.
* **Fill rate** per venue: orders fully filled / orders submitted. Orders are the saga orders
  (``LegSubmitted``, legs and hedges) plus any ``OrderSubmitted`` not also journaled as a leg.
  An order's filled quantity is its final ``LegFilled`` record, else the sum of its distinct
  ``OrderFilled`` trades (FAILED fills excluded).
* **Edge**: predicted vs effective bps per execution (effective is absent when nothing was
  bought, e.g. ABORTED). **Slippage = predicted - effective: positive means the execution did
  worse than predicted** (the convention most traders expect), negative that it did better.
* **Fills per leg**: every order of every execution (legs and hedges), with the market's name
  (from the instrument journaled with the order: the Kalshi ticker, the Polymarket question;
  never a token id), side, average fill price, filled size, fee, our client order id and the
  venue's order id.
* **Positions at the end of the run**: per outcome instrument, bought minus sold over those
  orders and any standalone ``OrderFilled`` trade (FAILED fills excluded); markets with a
  ``SettlementBooked`` record are resolved and left out. **Capital locked until resolution**
  is what the open long positions cost at average cost (buy notional plus fees in the position's
  currency; a sale releases its share of the cost, its gain or loss is realised), per venue and
  currency: it comes back only when the market resolves.
  **Return on capital** = the executions' profit / that capital, for USD-pegged collateral
  (USD, pUSD, USDC counted at par, which is how the cross-venue profit is booked).
* **Latency** per stage (see :mod:`arbkit.analytics.stages`): p50/p90/p99 are DuckDB's
  ``quantile_cont`` (linear interpolation between order statistics, as numpy's default).
* **Hedges**: hedge orders (``purpose == "hedge"``) in the reports. A hedge's cost is what
  unwinding lost against the entry it unwound: ``qty * (entry - hedge price)`` for a sell
  (``(hedge price - entry)`` for a buy) plus the hedge's fee when it is charged in the
  instrument's quote; the cost is in that quote (e.g. pUSD for a Polymarket hedge). The entry is the volume-weighted fill price of the execution's own orders on that leg
  and instrument; when there is none (a cascade unwinding an intermediate currency) it is the
  best price the strategy saw on the hedge's side in the decision-time book; else unknown.
* **Rejections**: ``OrderRejected`` by venue and reason, ``RiskDenied`` by check and reason.
"""

from __future__ import annotations

import datetime as _dt
import json
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import Any

import msgspec

from arbkit.analytics.load import LoadedJournal, load_journal
from arbkit.analytics.stages import STAGES

STATUSES = ("FILLED", "HEDGED", "FAILED", "ABORTED")
MONEY = "DECIMAL(38,18)"  # 20 integer digits, 18 decimals: exact for every price, size and profit
BPS = "DECIMAL(38,10)"

_EXECUTIONS_SQL = f"""
CREATE TABLE executions AS
WITH r AS (
    SELECT seq, ts_ns, payload->'report' AS rep FROM records WHERE kind = 'ExecutionReported'
    QUALIFY row_number() OVER (PARTITION BY payload->'report'->>'execution_id' ORDER BY seq DESC) = 1
)
SELECT
    seq,
    ts_ns,
    rep->>'execution_id' AS execution_id,
    rep->>'status' AS status,
    coalesce(nullif(rep->>'strategy', ''), '(none)') AS strategy,
    rep->>'primary_quote' AS currency,
    coalesce(nullif(array_to_string(list_sort(list_distinct(json_extract_string(rep, '$.legs[*].venue'))), '+'), ''),
             '(none)') AS venues,
    TRY_CAST(rep->>'predicted_edge_bps' AS {BPS}) AS predicted_bps,
    TRY_CAST(rep->>'effective_edge_bps' AS {BPS}) AS effective_bps,
    TRY_CAST(rep->>'profit' AS {MONEY}) AS profit,
    TRY_CAST(rep->>'predicted_profit' AS {MONEY}) AS predicted_profit,
    TRY_CAST(rep->>'matched_fraction' AS {MONEY}) AS matched_fraction,
    coalesce(nullif(TRY_CAST(rep->'timings'->>'completed_ns' AS BIGINT), 0), ts_ns) AS completed_ns,
    {", ".join(f"coalesce(TRY_CAST(rep->'timings'->>'{f}' AS BIGINT), 0) AS {f}" for f in dict.fromkeys(
        x for _, a, b in STAGES for x in (a, b)))},
    coalesce(TRY_CAST(rep->>'recovered' AS BOOLEAN), false) AS recovered,
    rep->>'error' AS error,
    rep->'legs' AS legs,
    rep->'books' AS books
FROM r
"""

_LEGS_SQL = f"""
CREATE TABLE legs AS
WITH u AS (
    SELECT execution_id, strategy, currency, status AS execution_status, unnest(json_extract(legs, '$[*]')) AS leg
    FROM executions
)
SELECT
    execution_id, strategy, currency, execution_status,
    TRY_CAST(leg->>'leg_index' AS INTEGER) AS leg_index,
    leg->>'purpose' AS purpose,
    leg->>'client_order_id' AS client_order_id,
    leg->>'venue' AS venue,
    leg->>'instrument_id' AS instrument_id,
    leg->>'side' AS side,
    TRY_CAST(leg->>'requested_quantity' AS {MONEY}) AS requested_quantity,
    TRY_CAST(leg->>'limit_price' AS {MONEY}) AS limit_price,
    coalesce(TRY_CAST(leg->>'filled_quantity' AS {MONEY}), 0) AS filled_quantity,
    TRY_CAST(leg->>'avg_price' AS {MONEY}) AS avg_price,
    coalesce(TRY_CAST(leg->>'fee' AS {MONEY}), 0) AS fee,
    leg->>'fee_currency' AS fee_currency,
    leg->>'status' AS status,
    coalesce(TRY_CAST(leg->>'latency_ns' AS BIGINT), 0) AS latency_ns,
    coalesce(TRY_CAST(leg->>'ack_latency_ns' AS BIGINT), 0) AS ack_latency_ns,
    coalesce(leg->>'error', '') AS error
FROM u
"""

_ORDERS_SQL = f"""
CREATE TABLE orders AS
WITH submitted AS (
    SELECT payload->>'client_order_id' AS coid, payload->'instrument'->>'venue' AS venue,
           payload->>'purpose' AS purpose, TRY_CAST(payload->>'quantity' AS {MONEY}) AS quantity, seq
    FROM records WHERE kind = 'LegSubmitted'
    UNION ALL
    SELECT payload->>'client_order_id', payload->>'venue', 'order', TRY_CAST(payload->>'quantity' AS {MONEY}), seq
    FROM records WHERE kind = 'OrderSubmitted'
),
o AS (
    -- first record of each order (a LegSubmitted wins over an OrderSubmitted of the same order)
    SELECT * FROM submitted
    QUALIFY row_number() OVER (PARTITION BY coid ORDER BY (purpose = 'order'), seq) = 1
),
final AS (
    SELECT payload->>'client_order_id' AS coid, payload->>'status' AS status,
           TRY_CAST(payload->>'filled_quantity' AS {MONEY}) AS filled_quantity
    FROM records WHERE kind = 'LegFilled'
    QUALIFY row_number() OVER (PARTITION BY payload->>'client_order_id' ORDER BY seq DESC) = 1
),
trades AS (
    SELECT payload->>'client_order_id' AS coid, payload->>'status' AS status,
           TRY_CAST(payload->>'quantity' AS {MONEY}) AS quantity
    FROM records WHERE kind = 'OrderFilled'
    QUALIFY row_number() OVER (PARTITION BY payload->>'client_order_id', payload->>'trade_id' ORDER BY seq DESC) = 1
),
fills AS (SELECT coid, sum(quantity) AS quantity FROM trades WHERE status IS DISTINCT FROM 'FAILED' GROUP BY coid),
rejected AS (SELECT DISTINCT payload->>'client_order_id' AS coid FROM records WHERE kind = 'OrderRejected')
SELECT
    o.coid AS client_order_id, o.venue, o.purpose, o.quantity,
    coalesce(final.filled_quantity, fills.quantity, 0) AS filled_quantity,
    CASE
        WHEN o.quantity > 0 AND coalesce(final.filled_quantity, fills.quantity, 0) >= o.quantity THEN 'filled'
        WHEN coalesce(final.filled_quantity, fills.quantity, 0) > 0 THEN 'partial'
        WHEN final.status = 'REJECTED' OR rejected.coid IS NOT NULL THEN 'rejected'
        ELSE 'unfilled'
    END AS outcome
FROM o
LEFT JOIN final ON final.coid = o.coid
LEFT JOIN fills ON fills.coid = o.coid
LEFT JOIN rejected ON rejected.coid = o.coid
"""

_HEDGES_SQL = f"""
WITH entry AS (
    -- fills as lists: their notional is summed in Python (a DECIMAL(38,18) product overflows DuckDB's 38 digits)
    SELECT execution_id, leg_index, instrument_id, side,
           list(filled_quantity ORDER BY client_order_id) AS quantities, list(avg_price ORDER BY client_order_id) AS prices
    FROM legs WHERE purpose = 'leg' AND filled_quantity > 0 AND avg_price IS NOT NULL
    GROUP BY ALL
),
books AS (
    SELECT execution_id, b->>'instrument_id' AS instrument_id,
           TRY_CAST(json_extract_string(b, '$.bids[0][0]') AS {MONEY}) AS best_bid,
           TRY_CAST(json_extract_string(b, '$.asks[0][0]') AS {MONEY}) AS best_ask
    FROM (SELECT execution_id, unnest(json_extract(books, '$[*]')) AS b FROM executions)
),
submitted AS (
    SELECT payload->>'client_order_id' AS coid, payload->'instrument'->>'quote' AS quote FROM records
    WHERE kind = 'LegSubmitted'
    QUALIFY row_number() OVER (PARTITION BY payload->>'client_order_id' ORDER BY seq) = 1
)
SELECT h.execution_id, h.strategy, s.quote, h.execution_status, h.leg_index, h.client_order_id, h.venue,
       h.instrument_id, h.side, h.requested_quantity, h.filled_quantity, h.avg_price, h.fee, h.fee_currency, h.status,
       e.quantities AS entry_quantities, e.prices AS entry_prices,
       CASE WHEN h.side = 'SELL' THEN bk.best_bid ELSE bk.best_ask END AS book_price
FROM legs h
LEFT JOIN entry e ON e.execution_id = h.execution_id AND e.leg_index = h.leg_index
                 AND e.instrument_id = h.instrument_id AND e.side <> h.side
LEFT JOIN books bk ON bk.execution_id = h.execution_id AND bk.instrument_id = h.instrument_id
LEFT JOIN submitted s ON s.coid = h.client_order_id
WHERE h.purpose = 'hedge'
ORDER BY h.execution_id, h.client_order_id
"""


def dec_str(d: Decimal | None) -> str | None:
    """An exact decimal as plain text without trailing zeros (``1.500`` -> ``1.5``, never
    ``1.5E+1``)."""
    if d is None:
        return None
    if d == 0:
        return "0"
    return format(d.normalize(), "f")


def _rows(con: Any, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [c[0] for c in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _us(ns: float | None) -> float | None:
    return None if ns is None else round(ns / 1000.0, 3)


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 6) if den else None


def _round(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


def build_report(path: str | Path) -> dict[str, Any]:
    """Every figure of the report for the journal at ``path`` (see the module docstring)."""
    loaded = load_journal(path)
    try:
        return compute(loaded)
    finally:
        loaded.close()


def compute(loaded: LoadedJournal) -> dict[str, Any]:
    con = loaded.con
    con.execute(_EXECUTIONS_SQL)
    con.execute(_LEGS_SQL)
    con.execute(_ORDERS_SQL)

    first_ns, last_ns = con.execute("SELECT min(ts_ns), max(ts_ns) FROM records").fetchone()
    n_exec = con.execute("SELECT count(*) FROM executions").fetchone()[0]
    by_status = {s: 0 for s in STATUSES}
    for status, n in con.execute("SELECT status, count(*) FROM executions GROUP BY status ORDER BY status").fetchall():
        by_status[status] = n
    unfinished = con.execute(
        "SELECT count(DISTINCT payload->>'execution_id') FROM records WHERE kind = 'ExecutionStarted' "
        "AND payload->>'execution_id' NOT IN (SELECT execution_id FROM executions)"
    ).fetchone()[0]

    report: dict[str, Any] = {
        "journal": str(loaded.path),
        "generated_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "records": {
            "total": loaded.records_total,
            "analysed": loaded.loaded,
            "bad_crc": loaded.bad_crc,
            "bad_json": loaded.bad_json,
            "problems": loaded.problems,
        },
        "period": {"first_ns": first_ns, "last_ns": last_ns},
        "executions": {"total": n_exec, "by_status": by_status, "unfinished": unfinished},
        "pnl": _pnl(con),
        "fill_rate": _fill_rate(con),
        "edge": _edge(con),
        "latency": _latency(con),
        "hedges": _hedges(con),
        "rejections": _rejections(con),
        "execution_list": _execution_list(con),
        "settlement": _settlement(con),
        "market_making": _market_making(con),
    }
    report.update(_fills_and_positions(con, report))
    return report


_INSTRUMENTS_SQL = """
SELECT DISTINCT ON (payload->'instrument'->>'venue', payload->'instrument'->>'symbol')
       (payload->'instrument'->>'venue') || ':' || (payload->'instrument'->>'symbol') AS instrument_id,
       payload->'instrument'->>'venue' AS venue, payload->'instrument'->>'symbol' AS symbol,
       payload->'instrument'->>'kind' AS kind, payload->'instrument'->>'quote' AS quote,
       payload->'instrument'->>'outcome' AS outcome, payload->'instrument'->>'market_id' AS market_id,
       payload->'instrument'->>'title' AS title
FROM records WHERE kind = 'LegSubmitted'
ORDER BY payload->'instrument'->>'venue', payload->'instrument'->>'symbol', seq DESC
"""

_FILLS_SQL = """
WITH vids AS (
    SELECT payload->>'client_order_id' AS coid, any_value(payload->>'venue_order_id') AS venue_order_id
    FROM records WHERE kind IN ('OrderAccepted', 'OrderFilled') AND coalesce(payload->>'venue_order_id', '') <> ''
    GROUP BY ALL
)
SELECT l.execution_id, l.strategy, l.execution_status, l.leg_index, l.purpose, l.client_order_id, v.venue_order_id,
       l.venue, l.instrument_id, l.side, l.requested_quantity, l.limit_price, l.filled_quantity, l.avg_price, l.fee,
       l.fee_currency, l.status, l.error, e.completed_ns
FROM legs l
JOIN executions e ON e.execution_id = l.execution_id
LEFT JOIN vids v ON v.coid = l.client_order_id
ORDER BY e.completed_ns, e.seq, l.purpose <> 'leg', l.leg_index, l.client_order_id
"""

# standalone trades (not an order of any execution): FAILED fills excluded, each trade once
_STANDALONE_FILLS_SQL = """
SELECT payload->>'venue' AS venue, payload->>'instrument_id' AS instrument_id, payload->>'side' AS side,
       payload->>'price' AS price, payload->>'quantity' AS quantity, payload->>'fee' AS fee,
       payload->>'fee_currency' AS fee_currency
FROM records WHERE kind = 'OrderFilled'
  AND payload->>'client_order_id' NOT IN (SELECT client_order_id FROM legs WHERE client_order_id IS NOT NULL)
  AND payload->>'status' IS DISTINCT FROM 'FAILED'
QUALIFY row_number() OVER (PARTITION BY payload->>'client_order_id', payload->>'trade_id' ORDER BY seq DESC) = 1
ORDER BY seq
"""

PEGGED = ("USD", "pUSD", "USDC")  # collateral the cross-venue profit is booked in at par


def market_name(inst: dict[str, Any] | None, instrument_id: str) -> str:
    """A market as a trader names it: the Polymarket question or the Kalshi ticker with the
    outcome; a bare id is shortened (a 78-digit token id is unreadable)."""
    if inst:
        venue = inst.get("venue")
        base = (inst.get("market_id") or inst.get("symbol")) if venue == "kalshi" else (inst.get("title") or inst.get("market_id"))
        if base:
            out = f"{base} {inst['outcome']}" if inst.get("outcome") else base
            return out
    sym = instrument_id.split(":", 1)[1] if ":" in instrument_id else instrument_id
    return sym if len(sym) <= 24 else f"{sym[:8]}…{sym[-8:]}"


def _fills_and_positions(con: Any, report: dict[str, Any]) -> dict[str, Any]:
    """Fills per leg, positions at the end of the run, capital locked until resolution and the
    return on it (see the module docstring)."""
    insts = {r["instrument_id"]: r for r in _rows(con, _INSTRUMENTS_SQL)}
    zero = Decimal(0)
    fills = []
    # per instrument: [quantity, cost in its quote] (cost: buys plus fees minus sells)
    book: dict[str, list[Decimal]] = {}

    def take(iid: str, side: str, qty: Decimal, price: Decimal | None, fee: Decimal, fee_ccy: str | None) -> None:
        if not qty or price is None:
            return
        inst = insts.get(iid)
        if inst is None:  # a standalone order (no LegSubmitted): an outcome on a prediction market
            venue = iid.split(":", 1)[0]
            inst = insts[iid] = {"instrument_id": iid, "venue": venue, "symbol": iid.split(":", 1)[-1],
                                 "kind": "outcome" if venue in ("polymarket", "kalshi") else "spot",
                                 "quote": fee_ccy or None, "outcome": None, "market_id": None, "title": None}
        pos = book.setdefault(iid, [zero, zero])
        fee_q = fee if fee_ccy and fee_ccy == inst.get("quote") else zero
        with localcontext() as ctx:
            ctx.prec = 38
            if side == "BUY":
                pos[0] += qty
                pos[1] += qty * price + fee_q
            elif pos[0] > qty:
                # average cost: a sale releases its share of the cost; its gain or loss (and fee)
                # is realised, not capital still locked
                pos[1] -= pos[1] / pos[0] * qty
                pos[0] -= qty
            else:  # sold out (or short): what is left is valued at this sale
                pos[0] -= qty
                pos[1] = pos[0] * price

    for r in _rows(con, _FILLS_SQL):
        inst = insts.get(r["instrument_id"])
        fills.append({
            "execution_id": r["execution_id"], "strategy": r["strategy"], "execution_status": r["execution_status"],
            "purpose": r["purpose"], "leg_index": r["leg_index"], "venue": r["venue"], "instrument_id": r["instrument_id"],
            "market": market_name(inst, r["instrument_id"] or ""), "side": r["side"],
            "price": dec_str(r["avg_price"]), "limit_price": dec_str(r["limit_price"]),
            "size": dec_str(r["filled_quantity"]), "requested": dec_str(r["requested_quantity"]),
            "fee": dec_str(r["fee"]), "fee_currency": r["fee_currency"], "status": r["status"], "reason": r["error"],
            "client_order_id": r["client_order_id"], "venue_order_id": r["venue_order_id"], "completed_ns": r["completed_ns"],
        })
        take(r["instrument_id"], r["side"], r["filled_quantity"], r["avg_price"], r["fee"], r["fee_currency"])
    for r in _rows(con, _STANDALONE_FILLS_SQL):
        try:
            take(r["instrument_id"], r["side"], Decimal(r["quantity"]), Decimal(r["price"]), Decimal(r["fee"] or 0),
                 r["fee_currency"])
        except (InvalidOperation, TypeError):
            continue
    for h in report["hedges"]["orders"]:
        h["market"] = market_name(insts.get(h["instrument_id"]), h["instrument_id"] or "")
    settled = {(b["venue"], b["market_id"]) for b in (report.get("settlement") or {}).get("markets", [])}
    positions = []
    locked: dict[tuple[str, str], dict[str, Any]] = {}
    for iid, (qty, cost) in sorted(book.items()):
        inst = insts.get(iid) or {}
        if qty == 0 or inst.get("kind") != "outcome":
            continue  # flat, or spot: a triangle's currencies are not held to a resolution
        venue = inst.get("venue") or iid.split(":", 1)[0]
        is_settled = (venue, inst.get("market_id")) in settled
        ccy = inst.get("quote") or "?"
        cost = cost.quantize(Decimal("1e-12"))
        avg = (cost / qty).quantize(Decimal("1e-6")) if qty else None
        positions.append({"venue": venue, "instrument_id": iid, "market": market_name(inst, iid), "quantity": dec_str(qty),
                          "avg_cost": dec_str(avg), "cost": dec_str(cost), "currency": ccy,
                          "max_payout": dec_str(qty if qty > 0 else zero), "settled": is_settled})
        if not is_settled and qty > 0:
            row = locked.setdefault((venue, ccy), {"venue": venue, "currency": ccy, "positions": 0, "capital": zero})
            row["positions"] += 1
            row["capital"] += max(cost, zero)
    capital = sum((r["capital"] for r in locked.values() if r["currency"] in PEGGED), zero)
    profit = sum((Decimal(r["profit"]) for r in report["pnl"]["by_currency"] if r["currency"] in PEGGED), zero)
    roc = None
    if capital > 0:
        with localcontext() as ctx:
            ctx.prec = 38
            roc = (profit / capital * 100).quantize(Decimal("0.0001"))
    return {
        "fills": fills,
        "positions": positions,
        "capital_locked": [{**r, "capital": dec_str(r["capital"])} for _k, r in sorted(locked.items())],
        "return_on_capital": {"currencies": list(PEGGED), "profit": dec_str(profit), "capital_locked": dec_str(capital),
                              "percent": dec_str(roc)},
    }


def _settlement(con: Any) -> dict[str, Any]:
    """Resolved markets: realised settlement P&L per venue and currency (exact Decimal sums of the
    journaled ``SettlementBooked`` records), and the capital returned: credited by the venue at
    settlement (Kalshi) or by a redeem / merge on chain (Polymarket), with what is still pending."""
    zero = Decimal(0)
    pnl: dict[tuple[str, str], dict[str, Any]] = {}
    pending: dict[tuple[str, str], Decimal] = {}
    markets: list[dict[str, Any]] = []
    for payload in (r[0] for r in con.execute(
            "SELECT payload FROM records WHERE kind = 'SettlementBooked' ORDER BY seq").fetchall()):
        b = json.loads(payload)
        key = (b["venue"], b["currency"])
        row = pnl.setdefault(key, {"venue": b["venue"], "currency": b["currency"], "markets": 0,
                                   "proceeds": zero, "cost": zero, "pnl": zero, "credited": zero})
        row["markets"] += 1
        for k in ("proceeds", "cost", "pnl"):
            row[k] += Decimal(b[k])
        if b.get("cash_credited"):
            row["credited"] += Decimal(b["proceeds"])
        elif Decimal(b["proceeds"]):
            pending[(b["venue"], b["market_id"])] = Decimal(b["proceeds"])
        markets.append({"venue": b["venue"], "market_id": b["market_id"], "winner": b.get("winning_instrument_id"),
                        "proceeds": b["proceeds"], "pnl": b["pnl"], "currency": b["currency"]})
    returned: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, payload in con.execute(
            "SELECT kind, payload FROM records WHERE kind IN ('PositionsRedeemed', 'PositionsMerged') ORDER BY seq").fetchall():
        b = json.loads(payload)
        key = (b["venue"], b.get("currency", "USDC"))
        row = returned.setdefault(key, {"venue": b["venue"], "currency": key[1], "redeemed": zero, "merged": zero,
                                        "actions": 0})
        row["actions"] += 1
        row["redeemed" if kind == "PositionsRedeemed" else "merged"] += Decimal(b["collateral_returned"])
        if kind == "PositionsRedeemed":
            pending.pop((b["venue"], b["market_id"]), None)
    for row in returned.values():
        if (row["venue"], row["currency"]) in pnl:
            pnl[(row["venue"], row["currency"])]["credited"] += row["redeemed"]

    def strs(d: dict[str, Any]) -> dict[str, Any]:
        return {k: (dec_str(v) if isinstance(v, Decimal) else v) for k, v in d.items()}

    return {
        "by_venue": [strs(r) for _k, r in sorted(pnl.items())],
        "capital_returned": [strs(r) for _k, r in sorted(returned.items())],
        "capital_pending": [{"venue": v, "market_id": m, "amount": dec_str(a)} for (v, m), a in sorted(pending.items())],
        "markets": markets,
        "reconciliations": [json.loads(p[0]) for p in con.execute(
            "SELECT payload FROM records WHERE kind = 'SettlementReconciled' ORDER BY seq").fetchall()],
    }


def _pnl(con: Any) -> dict[str, Any]:
    def money_rows(sql: str) -> list[dict[str, Any]]:
        rows = _rows(con, sql)
        for r in rows:
            for k in ("profit", "predicted_profit", "fees"):
                if k in r:
                    r[k] = dec_str(r[k])
        return rows

    agg = "count(*) AS executions, coalesce(sum(profit), 0) AS profit, coalesce(sum(predicted_profit), 0) AS predicted_profit"
    return {
        "by_currency": money_rows(f"SELECT currency, {agg} FROM executions GROUP BY ALL ORDER BY currency"),
        "by_strategy": money_rows(f"SELECT strategy, currency, {agg} FROM executions GROUP BY ALL ORDER BY strategy, currency"),
        "by_venue": money_rows(f"SELECT venues, currency, {agg} FROM executions GROUP BY ALL ORDER BY venues, currency"),
        "by_strategy_venue": money_rows(
            f"SELECT strategy, venues, currency, {agg} FROM executions GROUP BY ALL ORDER BY strategy, venues, currency"),
        "fees_by_venue": money_rows(
            "SELECT venue, fee_currency AS currency, count(*) AS orders, sum(fee) AS fees FROM legs "
            "WHERE fee <> 0 GROUP BY ALL ORDER BY venue, currency"),
        "over_time": [
            {"ts_ns": ts, "execution_id": eid, "currency": cur, "profit": dec_str(p)}
            for ts, eid, cur, p in con.execute(
                "SELECT completed_ns, execution_id, currency, profit FROM executions WHERE profit IS NOT NULL "
                "ORDER BY completed_ns, seq").fetchall()
        ],
    }


def _fill_rate(con: Any) -> dict[str, Any]:
    cols = ("count(*) AS submitted, count(*) FILTER (outcome = 'filled') AS filled, "
            "count(*) FILTER (outcome = 'partial') AS partially_filled, count(*) FILTER (outcome = 'rejected') AS rejected, "
            "count(*) FILTER (outcome = 'unfilled') AS unfilled")
    by_venue = _rows(con, f"SELECT coalesce(venue, '(unknown)') AS venue, {cols} FROM orders GROUP BY ALL ORDER BY venue")
    by_purpose = _rows(con, f"SELECT purpose, {cols} FROM orders GROUP BY ALL ORDER BY purpose")
    overall = _rows(con, f"SELECT {cols} FROM orders")[0]
    for r in (*by_venue, *by_purpose, overall):
        r["fill_rate"] = _rate(r["filled"], r["submitted"])
    return {"by_venue": by_venue, "by_purpose": by_purpose, "overall": overall}


def _edge(con: Any) -> dict[str, Any]:
    measured = "FROM executions WHERE effective_bps IS NOT NULL AND predicted_bps IS NOT NULL"
    aggregate = _rows(con, f"""
        SELECT count(*) AS executions, avg(predicted_bps) AS mean_predicted_bps, avg(effective_bps) AS mean_effective_bps,
               avg(predicted_bps - effective_bps) AS mean_slippage_bps,
               quantile_cont(predicted_bps - effective_bps, 0.5) AS median_slippage_bps,
               min(predicted_bps - effective_bps) AS min_slippage_bps, max(predicted_bps - effective_bps) AS max_slippage_bps
        {measured}""")[0]
    by_strategy = _rows(con, f"""
        SELECT strategy, count(*) AS executions, avg(predicted_bps) AS mean_predicted_bps,
               avg(effective_bps) AS mean_effective_bps, avg(predicted_bps - effective_bps) AS mean_slippage_bps
        {measured} GROUP BY strategy ORDER BY strategy""")
    for r in (aggregate, *by_strategy):
        for k, v in r.items():
            if k.endswith("_bps"):
                r[k] = _round(v, 4)
    return {"aggregate": aggregate, "by_strategy": by_strategy}


def _latency(con: Any) -> list[dict[str, Any]]:
    out = []
    for name, start, end in STAGES:
        row = con.execute(f"""
            SELECT count(*), quantile_cont(d, [0.5, 0.9, 0.99]), min(d), max(d)
            FROM (SELECT {end} - {start} AS d FROM executions WHERE {start} > 0 AND {end} > 0 AND {end} >= {start})
        """).fetchone()
        n, q, lo, hi = row
        q = q or [None, None, None]
        out.append({"stage": name, "count": n, "p50_us": _us(q[0]), "p90_us": _us(q[1]), "p99_us": _us(q[2]),
                    "min_us": _us(lo), "max_us": _us(hi)})
    return out


def _hedge_cost(h: dict[str, Any]) -> tuple[Decimal | None, str]:
    """(cost in the instrument's quote, what the entry reference was) of one hedge order."""
    qty, avg = h["filled_quantity"], h["avg_price"]
    if not qty or avg is None:
        return Decimal(0), "no fill"
    ref: Decimal | None = None
    basis = "unknown"
    with localcontext() as ctx:
        ctx.prec = 38
        try:
            entry_qty = sum(h["entry_quantities"] or [], Decimal(0))
            if entry_qty:
                notional = sum((q * p for q, p in zip(h["entry_quantities"], h["entry_prices"])), Decimal(0))
                ref, basis = notional / entry_qty, "entry fill"
            elif h["book_price"] is not None:
                ref, basis = h["book_price"], "decision book"
        except (InvalidOperation, ZeroDivisionError):
            ref = None
        if ref is None:
            return None, basis
        cost = qty * (ref - avg) if h["side"] == "SELL" else qty * (avg - ref)
        if h["fee_currency"] == h["quote"]:
            cost += h["fee"]
        return cost.quantize(Decimal("1e-12")), basis


def _hedges(con: Any) -> dict[str, Any]:
    rows = _rows(con, _HEDGES_SQL)
    orders = []
    cost_by_currency: dict[str, Decimal] = {}
    unknown = 0
    for h in rows:
        cost, basis = _hedge_cost(h)
        currency = h["quote"] or "?"
        if cost is None:
            unknown += 1
        else:
            cost_by_currency[currency] = cost_by_currency.get(currency, Decimal(0)) + cost
        orders.append({
            "execution_id": h["execution_id"], "strategy": h["strategy"], "execution_status": h["execution_status"],
            "client_order_id": h["client_order_id"], "venue": h["venue"], "instrument_id": h["instrument_id"],
            "side": h["side"], "filled_quantity": dec_str(h["filled_quantity"]), "avg_price": dec_str(h["avg_price"]),
            "fee": dec_str(h["fee"]), "fee_currency": h["fee_currency"], "status": h["status"],
            "cost": dec_str(cost), "currency": currency, "reference": basis,
        })
    started = _rows(con, "SELECT payload->>'mode' AS mode, count(DISTINCT correlation_id) AS executions FROM records "
                         "WHERE kind = 'HedgeStarted' GROUP BY ALL ORDER BY mode")
    n_exec = con.execute("SELECT count(DISTINCT execution_id) FROM legs WHERE purpose = 'hedge'").fetchone()[0]
    return {
        "executions_hedged": n_exec,
        "hedge_orders": len(rows),
        "hedge_orders_filled": sum(1 for h in rows if h["filled_quantity"]),
        "started_by_mode": started,
        "cost_by_currency": [{"currency": c, "cost": dec_str(v)} for c, v in sorted(cost_by_currency.items())],
        "cost_unknown": unknown,
        "orders": orders,
    }


def _rejections(con: Any) -> dict[str, Any]:
    orders = _rows(con, """
        SELECT payload->>'venue' AS venue, payload->>'reason' AS reason, coalesce(payload->>'code', '') AS code,
               count(*) AS count
        FROM records WHERE kind = 'OrderRejected' GROUP BY ALL ORDER BY count DESC, venue, reason""")
    risk = _rows(con, """
        SELECT payload->>'check' AS "check", payload->>'reason' AS reason, count(*) AS count
        FROM records WHERE kind = 'RiskDenied' GROUP BY ALL ORDER BY count DESC, "check", reason""")
    return {"orders": orders, "risk": risk,
            "orders_total": sum(r["count"] for r in orders), "risk_total": sum(r["count"] for r in risk)}


def _execution_list(con: Any) -> list[dict[str, Any]]:
    fields = ", ".join(dict.fromkeys(x for _, a, b in STAGES for x in (a, b)))
    out = []
    for r in _rows(con, f"""
            SELECT execution_id, strategy, status, venues, currency, predicted_bps, effective_bps,
                   predicted_bps - effective_bps AS slippage_bps, profit, predicted_profit, matched_fraction,
                   completed_ns, recovered, error, {fields}
            FROM executions ORDER BY completed_ns, seq"""):
        lat: dict[str, int | None] = {}
        stamps = {k: r.pop(k) for k in list(r) if k.endswith("_ns") and k != "completed_ns"}
        for name, start, end in STAGES:
            a, b = stamps.get(start, 0), stamps.get(end, 0)
            lat[name] = b - a if a > 0 and b > 0 and b >= a else None
        for k in ("predicted_bps", "effective_bps", "slippage_bps", "profit", "predicted_profit", "matched_fraction"):
            r[k] = dec_str(r[k])
        r["latency_ns"] = lat
        out.append(r)
    return out


_json_encoder = msgspec.json.Encoder(decimal_format="string")


def report_json(report: dict[str, Any]) -> bytes:
    """The report as JSON (exact decimals as strings)."""
    return msgspec.json.format(_json_encoder.encode(report), indent=2)


def _market_making(con: Any) -> dict[str, Any]:
    """Complete-set market making (the quote manager's records), per quoted key: quote changes by
    action, fills, sets completed / merged / held, the P&L split -- spread (completed sets x (1 - sum
    of average entry prices)), merge (collateral returned - sets - the merge's cost), unwind (proceeds
    - average entry of what was sold), fees (every quote and unwind fill's fee) -- and the inventory
    over time (each ``QuoteInventory`` record: positions, sets, unmatched). Exact Decimal sums."""
    zero = Decimal(0)
    keys: dict[str, dict[str, Any]] = {}

    def row(key: str, strategy: str) -> dict[str, Any]:
        return keys.setdefault(key, {"key": key, "strategy": strategy, "quote_changes": {}, "fills": 0,
                                     "bought": zero, "sets_completed": zero, "sets_merged": zero, "merges": 0,
                                     "merge_failures": 0, "sets_held_notes": 0, "unwinds": 0, "unwound": zero,
                                     "spread": zero, "merge": zero, "unwind": zero, "fees": zero})

    for kind, payload in con.execute(
            "SELECT kind, payload FROM records WHERE kind IN ('QuoteChanged', 'QuoteFilled', 'QuoteUnwound', "
            "'SetsCompleted', 'SetsMerged', 'SetsHeld', 'SetsMergeFailed') ORDER BY seq").fetchall():
        b = json.loads(payload)
        r = row(b["key"], b.get("strategy", ""))
        if kind == "QuoteChanged":
            r["quote_changes"][b["action"]] = r["quote_changes"].get(b["action"], 0) + 1
        elif kind == "QuoteFilled":
            r["fills"] += 1
            r["bought"] += Decimal(b["quantity"])
            r["fees"] += Decimal(b["fee"])
        elif kind == "QuoteUnwound":
            r["unwinds"] += 1
            r["unwound"] += Decimal(b["quantity"])
            r["unwind"] += Decimal(b["pnl"])
            r["fees"] += Decimal(b["fee"])
        elif kind == "SetsCompleted":
            r["sets_completed"] += Decimal(b["sets"])
            r["spread"] += Decimal(b["spread"])
        elif kind == "SetsMerged":
            r["merges"] += 1
            r["sets_merged"] += Decimal(b["sets"])
            r["merge"] += Decimal(b["pnl"])
        elif kind == "SetsHeld":
            r["sets_held_notes"] += 1
        else:
            r["merge_failures"] += 1
    inventory = [{"ts_ns": ts, "key": json.loads(p)["key"], "why": json.loads(p)["why"],
                  "positions": json.loads(p)["positions"], "sets": json.loads(p)["sets"]}
                 for ts, p in con.execute("SELECT ts_ns, payload FROM records WHERE kind = 'QuoteInventory' ORDER BY seq").fetchall()]
    out = []
    for r in keys.values():
        r["pnl"] = r["spread"] + r["merge"] + r["unwind"] - r["fees"]
        out.append({k: (dec_str(v) if isinstance(v, Decimal) else v) for k, v in r.items()})
    total = {k: dec_str(sum((Decimal(r[k]) for r in out), zero))
             for k in ("sets_completed", "sets_merged", "spread", "merge", "unwind", "fees", "pnl")}
    return {"by_key": out, "total": total, "inventory": inventory[-500:]}

"""What the operator reads, derived from the node's state for :meth:`Node.status` (JSON-friendly,
no I/O): mapped pairs with their current edge, and alerts for executions that went wrong (a
rejected leg and the hedge it caused, with the venue's reason).

Kept out of node.py so the node only collects; the dashboard and ``arbkit status`` only show.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable

from arbkit.core.fees import LiquiditySide, fee_for

BPS = Decimal(10000)
_Q4 = Decimal("0.0001")


def short_name(inst: Any, limit: int = 28) -> str:
    """A market as a trader names it: the Kalshi ticker, the Polymarket question (shortened),
    never a 78-digit token id; with the outcome."""
    if inst is None:
        return "?"
    venue = getattr(inst.venue, "value", str(inst.venue))
    if venue == "kalshi":
        base = inst.market_id or inst.symbol
    else:
        base = inst.title or inst.market_id or inst.symbol
    if len(base) > limit:
        base = base[: limit - 1] + "…"
    return f"{base} {inst.outcome}".strip() if inst.outcome else base


def report_market(report: Any, instruments: dict[str, Any], limit: int = 40) -> str:
    """The market an execution traded, by its first leg ("" when it has no legs)."""
    if not report.legs:
        return ""
    sym = lambda iid: iid.split(":", 1)[-1]  # noqa: E731 - a spot pair's symbol is its name
    if report.sequencing == "CASCADE":
        legs = sorted((lg for lg in report.legs if lg.purpose == "leg"), key=lambda lg: lg.leg_index)
        return "→".join(sym(lg.instrument_id) for lg in legs)[:limit]  # a triangle: its path
    inst = instruments.get(report.legs[0].instrument_id)
    return short_name(inst, limit) if inst is not None else sym(report.legs[0].instrument_id)


def _top_cost(book: Any, inst: Any) -> tuple[Decimal, Decimal] | None:
    """(best ask, size at it) of a book, or None without asks."""
    if book is None:
        return None
    a = book.best_ask()
    if not a:
        return None
    return book.price(a[0]), book.size(a[1])


def pair_rows(pairs: list[Any], book_of: Callable[[str], Any], tradeable: Callable[[str], bool],
              now_ns: int) -> list[dict[str, Any]]:
    """One row per approved cross-venue pair: its name, both venues' YES asks, and the better of
    its two directions (buy one outcome on each venue; a set pays 1) priced at the top of both
    books: gross edge and edge after both venues' taker fees at the top-of-book size, in bps of
    the cost. The strategy walks the books and keeps a safety margin; this is the screen's
    quick look, never what decides a trade."""
    out = []
    for p in pairs:
        best: dict[str, Any] | None = None
        for leg_p, leg_k in p.directions():
            tp, tk = _top_cost(book_of(leg_p.id), leg_p), _top_cost(book_of(leg_k.id), leg_k)
            if tp is None or tk is None:
                continue
            (ap, sp), (ak, sk) = tp, tk
            cost = ap + ak
            if cost <= 0:
                continue
            q = min(sp, sk)
            gross = (1 - cost) / cost * BPS
            net = None
            if q > 0:
                try:
                    fees = fee_for(leg_p.fee, ap, q, LiquiditySide.TAKER) + fee_for(leg_k.fee, ak, q, LiquiditySide.TAKER)
                    net = (q - q * cost - fees) / (q * cost + fees) * BPS
                except (ArithmeticError, ValueError):  # a fee model the screen cannot price: gross only
                    net = None
            row = {"direction": f"PM {leg_p.outcome} + KS {leg_k.outcome}", "poly_ask": _num(ap), "kalshi_ask": _num(ak),
                   "cost": _num(cost), "size": _num(q), "gross_bps": str(gross.quantize(Decimal("0.1"))),
                   "net_bps": None if net is None else str(net.quantize(Decimal("0.1")))}
            key = net if net is not None else gross
            if best is None or key > best["_key"]:
                best = {**row, "_key": key}
        ages = []
        for iid in p.instrument_ids:
            b = book_of(iid)
            lu = getattr(b, "last_update_ns", 0) if b is not None else 0
            if lu:
                ages.append(round((now_ns - lu) / 1e6))
        if best is not None:
            best.pop("_key")
        out.append({
            "mapping_id": p.mapping_id,
            "name": p.poly_yes.title or p.poly_yes.market_id or "",
            "kalshi": p.kalshi_yes.market_id or p.kalshi_yes.symbol,
            "best": best,
            "age_ms": max(ages) if ages else None,
            "tradeable": all(tradeable(iid) for iid in p.instrument_ids),
        })
    return out


def execution_alert(report: Any, name_of: Callable[[str], str], now_ns: int) -> dict[str, Any] | None:
    """An alert for an execution that did not simply fill: which leg the venue rejected (or left
    unfilled) and why, the hedge it caused and what it did, residual exposure. None for a clean
    FILLED execution."""
    status = report.status.value
    legs = [lg for lg in report.legs if lg.purpose == "leg"]
    hedges = [lg for lg in report.legs if lg.purpose != "leg"]
    bad = [lg for lg in legs if lg.status in ("REJECTED", "CANCELED", "EXPIRED") or lg.error
           or lg.filled_quantity < lg.requested_quantity]
    residuals = [r for r in report.residuals if not r.dust and r.quantity != 0]
    if status == "FILLED" and not bad and not hedges and not residuals:
        return None
    lines = []
    for lg in bad:
        why = lg.error or report.error or "no reason given"
        # the reason first: it is what a narrow screen must not cut off
        lines.append(f"{lg.venue.value} leg {lg.status}: {why} | {lg.side.value} "
                     f"{_num(lg.filled_quantity)}/{_num(lg.requested_quantity)} {name_of(lg.instrument_id)}")
    for h in hedges:
        px = f" @{_num(h.avg_price)}" if h.avg_price is not None else ""
        lines.append(f"→ hedge {h.venue.value} {h.side.value} {_num(h.filled_quantity)}/{_num(h.requested_quantity)} "
                     f"{name_of(h.instrument_id)}{px} {h.status}" + (f": {h.error}" if h.error else ""))
    for r in residuals:
        lines.append(f"residual {r.venue.value} {name_of(r.asset) if ':' in r.asset else r.asset} {_num(r.quantity)}")
    if not lines and report.error:
        lines.append(report.error)
    completed = getattr(report.timings, "completed_ns", 0) or now_ns
    return {"ts_ns": completed, "level": "error" if status in ("FAILED",) or residuals else "warning",
            "execution_id": report.execution_id, "status": status, "profit": str(report.profit),
            "reason": report.error or next((lg.error for lg in bad if lg.error), ""), "lines": lines}


def _num(d: Decimal | None) -> str:
    if d is None:
        return "-"
    return format(d.normalize(), "f") if d else "0"

"""The differences that make two look-alike markets different contracts.

Each warning class has a code (what a person acknowledges with ``approve --ack CODE``), a
severity and a one-line explanation:

=====================  =========  ====================================================================
code                   severity   what differs
=====================  =========  ====================================================================
resolution_source      different  the sources named differ (a different index, exchange, station...)
                       review     a source is not stated on one side (read the rules)
date_window            different  resolution date, month, time of day, or "on" a date vs "by" a date
threshold              different  the numbers differ (strike 140,000 vs 150,000; 25 vs 50 bps)
                       review     only one side states a number
threshold_vs_bucket    different  "above X" on one side, a range "X to Y" on the other
bound_inclusivity      different  "above 100" vs "100 or above" (the contracts disagree at exactly 100)
polarity               review     YES on one ≈ 1 − YES on the other: the pair is proposed INVERTED
units                  different  the numbers are in different units (°F vs °C, % vs bps)
placeholder            different  unfilled rule text ("{{date}}", "<TBD>"): the terms are not final
place                  different  a different place or weather station
                       review     a station/place is named on one side only
outcome                different  a multi-outcome market's outcome labels differ
measure                different  a different measure of the same thing: YoY vs MoM, core vs headline,
                                  seasonally adjusted vs not (when both sides say which)
direction              different  opposite or other moves: a hike vs a cut vs no change
joint                  different  YES needs several conditions on one side (a combo/parlay), one on the other
game_period            different  a part of a game (first half, a quarter) vs another part or the full game
bet_type               different  moneyline (who wins) vs spread (by how much) vs total (how many points)
=====================  =========  ====================================================================

A resolution source also differs when both venues name data providers (CF Benchmarks, Binance,
Coinbase, Chainlink, BLS, NWS, Wunderground, ...) and no provider is common: an index is not one
exchange's candle, a station's NWS climate report is not Wunderground's airport history.

The recommendation for a pair: ``approve`` when there is no warning, ``review`` when every
warning is review-level (acknowledge after reading both rules), ``reject`` when any warning says
the contracts differ as written.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from arbkit.mapping.extract import Bound, Terms, abbreviated_label, is_generic_source, is_numeric_label, label_in, normalise, sources_match
from arbkit.mapping.store import MappingWarning, Polarity

WARNING_CODES = (
    "resolution_source",
    "date_window",
    "threshold",
    "threshold_vs_bucket",
    "bound_inclusivity",
    "polarity",
    "units",
    "placeholder",
    "place",
    "outcome",
    "measure",
    "direction",
    "joint",
    "game_period",
    "bet_type",
)
DIFFERENT = "different"
REVIEW = "review"

# complementary bounds at the same number: YES on one is exactly NO on the other
_COMPLEMENT = {(">", "<="), ("<=", ">"), (">=", "<"), ("<", ">=")}


@dataclass
class Comparison:
    polarity: Polarity
    warnings: list[MappingWarning] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        return sorted({w.code for w in self.warnings})

    @property
    def recommendation(self) -> str:
        if not self.warnings:
            return "approve"
        if all(w.severity == REVIEW for w in self.warnings):
            return "review"
        return "reject"

    def add(self, code: str, detail: str, severity: str = DIFFERENT) -> None:
        assert code in WARNING_CODES, code
        self.warnings.append(MappingWarning(code=code, detail=detail, severity=severity))


def _fmt_dates(ds: set[_dt.date]) -> str:
    return ", ".join(d.isoformat() for d in sorted(ds)) or "none"


def _check_bounds(c: Comparison, p: Bound | None, k: Bound | None, inverted: bool) -> None:
    if p is None and k is None:
        return
    if p is None or k is None:
        side, b = ("Kalshi", k) if p is None else ("Polymarket", p)
        assert b is not None
        c.add("threshold", f"only {side} states a number ({b.describe()}); the other side's rules state none", REVIEW)
        return
    if (p.op == "between") != (k.op == "between"):
        c.add("threshold_vs_bucket", f"Polymarket {p.describe()} vs Kalshi {k.describe()}: a threshold is not a bucket")
        return
    if p.unit and k.unit and p.unit != k.unit and "deg" not in (p.unit, k.unit):  # bare "°" fits F and C
        c.add("units", f"Polymarket in {p.unit} vs Kalshi in {k.unit} ({p.describe()} vs {k.describe()})")
        return
    if p.value != k.value or (p.op == "between" and p.upper != k.upper):
        c.add("threshold", f"Polymarket {p.describe()} vs Kalshi {k.describe()}")
        return
    if p.op == "between" or p.op == "=" or k.op == "=":
        if p.op != k.op:
            c.add("bound_inclusivity", f"Polymarket {p.describe()} vs Kalshi {k.describe()}")
        return
    if inverted:
        if (p.op, k.op) not in _COMPLEMENT:
            c.add("bound_inclusivity",
                  f"Polymarket {p.describe()} vs Kalshi {k.describe()}: not complements at exactly {p.value} "
                  f"(both resolve the same way there)")
    elif p.op != k.op:
        c.add("bound_inclusivity", f"Polymarket {p.describe()} vs Kalshi {k.describe()}: they disagree at exactly {p.value}")


def compare(poly: Terms, kalshi: Terms) -> Comparison:
    """Every difference between a Polymarket market and a Kalshi market, and the polarity that
    makes them the closest pair (INVERTED when YES on one reads as NO on the other)."""
    inverted = poly.polarity_sign != kalshi.polarity_sign
    c = Comparison(polarity=Polarity.INVERTED if inverted else Polarity.SAME)
    if inverted:
        c.add("polarity",
              "YES on Polymarket ≈ 1 − YES on Kalshi: proposed INVERTED (Polymarket YES = Kalshi NO); check that "
              "the two conditions are exact complements", REVIEW)

    # placeholders: unfilled rules text makes the terms unknowable
    for t, name in ((poly, "Polymarket"), (kalshi, "Kalshi")):
        if t.placeholders:
            c.add("placeholder", f"{name} rules contain unfilled placeholder(s): {', '.join(t.placeholders)}")

    # outcome labels of multi-outcome markets (names; numeric labels are buckets, compared as bounds)
    if poly.outcome_label and kalshi.outcome_label and not is_numeric_label(poly.outcome_label) and not is_numeric_label(kalshi.outcome_label):
        pl, kl = normalise(poly.outcome_label), normalise(kalshi.outcome_label)
        abbreviated = abbreviated_label(kalshi.outcome_label, poly.outcome_label)
        if (pl != kl and not abbreviated and not label_in(poly.outcome_label, kalshi.title + " " + kalshi.rules)
                and not label_in(kalshi.outcome_label, poly.title + " " + poly.rules)):
            c.add("outcome", f"outcome {poly.outcome_label!r} on Polymarket vs {kalshi.outcome_label!r} on Kalshi")
        elif pl != kl and (abbreviated or label_in(kalshi.outcome_label, poly.outcome_label)
                           or label_in(poly.outcome_label, kalshi.outcome_label)):
            # Kalshi often names a team by its city ("New York" for the Knicks): one name inside the
            # other is likely the same outcome, not certainly (two teams can share a city)
            c.add("outcome", f"outcome {poly.outcome_label!r} on Polymarket, {kalshi.outcome_label!r} on Kalshi: "
                             "one name inside the other; check they are the same", REVIEW)

    # what is measured
    pm, km = poly.measure & {"yoy", "mom"}, kalshi.measure & {"yoy", "mom"}
    if pm and km and not (pm & km):
        c.add("measure", f"Polymarket measures {'/'.join(sorted(pm))}, Kalshi {'/'.join(sorted(km))} (year-over-year vs month-over-month)")
    elif ("core" in poly.measure) != ("core" in kalshi.measure):
        side = "Polymarket" if "core" in poly.measure else "Kalshi"
        c.add("measure", f"only {side} is about the core measure (excluding food and energy); the other is headline")
    psec, ksec = {m for m in poly.measure if m.startswith("sector:")}, {m for m in kalshi.measure if m.startswith("sector:")}
    if psec and ksec and not (psec & ksec):
        c.add("measure", f"Polymarket is about the {'/'.join(sorted(x[7:] for x in psec))} survey, Kalshi the "
                         f"{'/'.join(sorted(x[7:] for x in ksec))} survey")
    ps, ks = poly.measure & {"sa", "nsa"}, kalshi.measure & {"sa", "nsa"}
    if len(ps) == 1 and len(ks) == 1 and ps != ks:
        names = {"sa": "seasonally adjusted", "nsa": "not seasonally adjusted"}
        c.add("measure", f"Polymarket {names[next(iter(ps))]}, Kalshi {names[next(iter(ks))]}")
    if poly.direction and kalshi.direction and not (poly.direction & kalshi.direction):
        c.add("direction", f"Polymarket is about a {'/'.join(sorted(poly.direction))} move, Kalshi about {'/'.join(sorted(kalshi.direction))}")
    if poly.joint != kalshi.joint:
        side = "Polymarket" if poly.joint else "Kalshi"
        c.add("joint", f"{side} YES needs several conditions together; the other side needs one")
    if poly.period != kalshi.period:
        c.add("game_period", f"Polymarket {'/'.join(sorted(poly.period)) or 'full game'} vs Kalshi {'/'.join(sorted(kalshi.period)) or 'full game'}")
    if poly.bet_type and kalshi.bet_type and poly.bet_type != kalshi.bet_type:
        c.add("bet_type", f"Polymarket is a {poly.bet_type} market, Kalshi a {kalshi.bet_type} market")

    # resolution source
    p_named = [s for s in poly.sources_raw if not is_generic_source(s)]
    k_named = [s for s in kalshi.sources_raw if not is_generic_source(s)]
    provider_differs = bool(poly.providers and kalshi.providers and not (poly.providers & kalshi.providers))
    if provider_differs:
        c.add("resolution_source", f"Polymarket settles on {', '.join(sorted(poly.providers))}, Kalshi on {', '.join(sorted(kalshi.providers))}")
    elif poly.providers & kalshi.providers:
        pass  # the same data provider named on both sides
    elif p_named and k_named:
        if not any(sources_match(a, b) for a in p_named for b in k_named):
            c.add("resolution_source", f"Polymarket resolves on {p_named[0]!r}, Kalshi on {k_named[0]!r}")
    elif p_named or k_named:
        # one side names a source, the other states none or only "the certified results": read its rules
        missing = "Polymarket" if not p_named else "Kalshi"
        said = poly.sources_raw if not p_named else kalshi.sources_raw
        c.add("resolution_source", f"{missing} names no specific resolution source"
              + (f" (only {said[0]!r})" if said else "") + ": read its rules", REVIEW)
    else:
        c.add("resolution_source", "neither venue names a specific resolution source: read both rules", REVIEW)

    # date or window; a figure for a quarter is compared by its quarter (the dates in its text are
    # release dates, and Kalshi's event ticker carries the release day)
    if poly.quarters and kalshi.quarters:
        if poly.quarters != kalshi.quarters:
            fq = lambda qs: ", ".join(f"Q{q} {y}" for y, q in sorted(qs))  # noqa: E731
            c.add("date_window", f"quarter Polymarket {fq(poly.quarters)} vs Kalshi {fq(kalshi.quarters)}")
    elif poly.dates and kalshi.dates:
        if poly.dates != kalshi.dates:
            c.add("date_window", f"dates Polymarket {_fmt_dates(poly.dates)} vs Kalshi {_fmt_dates(kalshi.dates)}")
    elif poly.months and kalshi.months and not (poly.months & kalshi.months):
        c.add("date_window", f"months Polymarket {sorted(poly.months)} vs Kalshi {sorted(kalshi.months)}")
    elif poly.close_date and kalshi.close_date and abs((poly.close_date - kalshi.close_date).days) > 1:
        c.add("date_window", f"close Polymarket {poly.close_date} vs Kalshi {kalshi.close_date}")
    if poly.times and kalshi.times and not (poly.times & kalshi.times):
        c.add("date_window", f"time of day Polymarket {sorted(poly.times)} vs Kalshi {sorted(kalshi.times)}")
    if poly.window != kalshi.window:
        kind = {"on": "at the date", "by": "any time until the date"}
        c.add("date_window", f"window: Polymarket {kind[poly.window]} vs Kalshi {kind[kalshi.window]}")

    # places and weather stations
    if poly.places != kalshi.places and (poly.places or kalshi.places):
        ps, ks = {p for p in poly.places if p.startswith("station:")}, {p for p in kalshi.places if p.startswith("station:")}
        pc, kc = poly.places - ps, kalshi.places - ks
        if ps and ks and not (ps & ks):
            c.add("place", f"station {sorted(ps)} on Polymarket vs {sorted(ks)} on Kalshi")
        elif pc and kc and not (pc & kc):
            c.add("place", f"place {sorted(pc)} on Polymarket vs {sorted(kc)} on Kalshi")
        elif bool(ps) != bool(ks):
            c.add("place", f"a weather station is named on one side only (Polymarket {sorted(ps) or 'none'}, "
                           f"Kalshi {sorted(ks) or 'none'})", REVIEW)

    _check_bounds(c, poly.bound, kalshi.bound, inverted)
    return c

"""The risk engine: plain synchronous pre-trade checks. No topics, no await.

``check(intent, now_ns)`` either approves — reserving capital, a concurrency slot, isolation
keys, in-flight exposure and order-rate tokens in one step — or denies with a reason that is
journaled. The execution engine tells it about fills (capital conversion) and about the end
of each execution (release, realised P&L, last trade per signal key).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from arbkit.core.clock import NS, Clock
from arbkit.core.enums import Venue
from arbkit.execution.events import RiskDenied
from arbkit.execution.intent import Intent, Sequencing, validate_intent
from arbkit.execution.portfolio import Portfolio
from arbkit.execution.sizing import planned_quantities, spend_of
from arbkit.risk.capital import CapitalLedger
from arbkit.risk.killswitch import KillSwitch
from arbkit.risk.limits import RiskLimits, TokenBucket

ZERO = Decimal(0)


@dataclass
class Reservation:
    execution_id: str
    capital: dict[tuple[Venue, str], Decimal]
    exposures: list[tuple[Venue, str, Decimal]]  # (venue, instrument id, value in reference ccy)
    keys: set[tuple[str, str]]
    planned: list[Decimal] = field(default_factory=list)
    strategy: str = ""


@dataclass(frozen=True)
class Approved:
    reservation: Reservation
    approved = True


@dataclass(frozen=True)
class Denied:
    check: str
    reason: str
    approved = False


class RiskEngine:
    def __init__(
        self,
        limits: RiskLimits,
        clock: Clock,
        portfolio: Portfolio,
        journal: Any = None,
        killswitch: KillSwitch | None = None,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.portfolio = portfolio
        self.capital = CapitalLedger(portfolio)
        self.journal = journal
        self.killswitch = killswitch or KillSwitch(journal, clock)
        self.in_flight: dict[str, Reservation] = {}
        self.last_trade_ns: dict[str, int] = {}
        self.pnl_day = ""
        self.pnl_today = ZERO
        self.denials = 0
        self._buckets: dict[str, TokenBucket] = {
            v: TokenBucket(clock, r.capacity, r.per_second) for v, r in limits.order_rate.items()
        }

    # --- configuration while running -------------------------------------------------------

    @property
    def slots(self) -> int:
        return self.limits.slots

    def set_slots(self, n: int) -> None:
        if n < 0:
            raise ValueError("slots must be >= 0")
        self.limits.slots = n  # in-flight executions above the new number finish; no new ones start

    # --- the check -------------------------------------------------------------------------

    def check(self, intent: Intent, now_ns: int | None = None) -> Approved | Denied:
        now = self.clock.now_ns() if now_ns is None else now_ns
        verdict = self._check(intent, now)
        if isinstance(verdict, Denied):
            self.denials += 1
            if self.journal is not None:
                self.journal.append_event(
                    RiskDenied(
                        execution_id=intent.execution_id,
                        check=verdict.check,
                        reason=verdict.reason,
                        correlation_id=intent.execution_id,
                        ts_recv=now,
                    )
                )
        return verdict

    def _check(self, intent: Intent, now: int) -> Approved | Denied:
        lim = self.limits
        if self.killswitch.tripped:
            return Denied("killswitch", f"kill switch tripped: {self.killswitch.reason}")
        bad = validate_intent(intent)
        if bad:
            return Denied("malformed", bad)
        if intent.execution_id in self.in_flight:
            return Denied("duplicate", f"execution {intent.execution_id} is already in flight")
        self._roll_day(now)
        if lim.daily_loss_limit is not None and self.pnl_today <= -lim.daily_loss_limit:
            self.killswitch.trip(f"daily loss limit: P&L today {self.pnl_today}", source="risk")
            return Denied("loss_limit", f"daily loss limit reached: P&L today {self.pnl_today}")
        # stale signal
        created = intent.timestamps.created_ns or intent.timestamps.evaluated_ns
        if lim.max_signal_age_s is not None and created and now - created > int(lim.max_signal_age_s * NS):
            return Denied("stale", f"signal is {(now - created) / NS:.3f}s old (limit {lim.max_signal_age_s}s)")
        max_age = int(lim.max_book_age_s * NS)
        last_trade = self.last_trade_ns.get(intent.signal_key, 0) if intent.signal_key else 0
        for leg in intent.legs:
            book = intent.book_for(leg.instrument_id)
            if book is None:
                return Denied("stale", f"no book snapshot for {leg.instrument_id}")
            age = now - book.last_update_ns
            if age > max_age:
                return Denied("stale", f"book {leg.instrument_id} is {age / NS:.3f}s old (limit {lim.max_book_age_s}s)")
            if last_trade and book.last_update_ns <= last_trade:
                return Denied("stale", f"book {leg.instrument_id} predates our last trade on {intent.signal_key}")
        # minimums after quantisation
        planned = planned_quantities(intent)
        for i, (leg, q) in enumerate(zip(intent.legs, planned)):
            why = leg.instrument.check_order(leg.price, q)
            if why:
                return Denied("minimum", f"leg {i} ({leg.instrument_id}): {why}")
        # slots and isolation
        if len(self.in_flight) >= lim.slots:
            return Denied("slots", f"all {lim.slots} execution slots busy")
        own = lim.strategy_slots.get(intent.strategy)
        if own is not None and sum(1 for r in self.in_flight.values() if r.strategy == intent.strategy) >= own:
            return Denied("slots", f"all {own} execution slots of strategy {intent.strategy} busy")
        keys = self._isolation_keys(intent)
        for other in self.in_flight.values():
            clash = keys & other.keys
            if clash:
                k = sorted(clash)[0]
                return Denied("isolation", f"{k[0]} {k[1]!r} in use by {other.execution_id}")
        # exposure
        exposures: list[tuple[Venue, str, Decimal]] = []
        for i, (leg, q) in enumerate(zip(intent.legs, planned)):
            rate = self._rate(intent, leg.instrument.quote)
            if rate is None:
                if any(x is not None for x in (lim.max_order_notional, lim.max_market_exposure, lim.max_venue_exposure, lim.max_total_exposure)):
                    return Denied("exposure", f"leg {i}: no valuation for {leg.instrument.quote}")
                rate = ZERO
            value = q * leg.price * rate
            if lim.max_order_notional is not None and value > lim.max_order_notional:
                return Denied("exposure", f"leg {i}: order notional {value} > {lim.max_order_notional}")
            exposures.append((leg.venue, leg.instrument_id, value))
        why = self._exposure_limits(exposures)
        if why:
            return Denied("exposure", why)
        budget = lim.strategy_exposure.get(intent.strategy)
        if budget is not None:
            used = sum((v for r in self.in_flight.values() if r.strategy == intent.strategy for _, _, v in r.exposures), ZERO)
            new = sum((v for _, _, v in exposures), ZERO)
            if used + new > budget:
                return Denied("exposure", f"strategy {intent.strategy} in-flight exposure {used + new} > its budget {budget}")
        # capital: a cascade spends only what its first leg takes; the rest is that leg's output
        need: dict[tuple[Venue, str], Decimal] = {}
        spend_legs = 1 if intent.sequencing is Sequencing.CASCADE else len(intent.legs)
        for leg, q in list(zip(intent.legs, planned))[:spend_legs]:
            cur, amount = spend_of(leg, q)
            need[(leg.venue, cur)] = need.get((leg.venue, cur), ZERO) + amount
        short = self.capital.shortfall(need)
        if short:
            return Denied("capital", short)
        # order rate
        per_venue: dict[str, int] = {}
        for leg in intent.legs:
            per_venue[leg.venue.value] = per_venue.get(leg.venue.value, 0) + 1
        for v, n in per_venue.items():
            b = self._buckets.get(v)
            if b is not None and not b.available(n):
                return Denied("rate", f"order-rate limit on {v}: {b.tokens:.2f} tokens, need {n}")
        # approved: take everything in one step
        for v, n in per_venue.items():
            b = self._buckets.get(v)
            if b is not None:
                b.take(n)
        self.capital.reserve(intent.execution_id, need)
        res = Reservation(intent.execution_id, need, exposures, keys, planned, intent.strategy)
        self.in_flight[intent.execution_id] = res
        return Approved(res)

    def _isolation_keys(self, intent: Intent) -> set[tuple[str, str]]:
        lim, iso = self.limits, intent.isolation
        keys: set[tuple[str, str]] = set()
        if lim.isolate_triangle and iso.triangle:
            keys.add(("triangle", iso.triangle))
        if lim.isolate_pairs:
            keys.update(("pair", p) for p in iso.pairs)
        if lim.isolate_primary_quote:
            keys.add(("primary_quote", iso.primary_quote or intent.primary_quote))
        if lim.isolate_mapping and iso.mapping:
            keys.add(("mapping", iso.mapping))
        return keys

    def _position_value(self, venue: Venue, iid: str) -> Decimal:
        value, quote = self.portfolio.exposure(venue, iid)
        return value * self.limits.valuation.get(quote, ZERO) if value else ZERO

    def _spot_currency_values(self) -> dict[tuple[Venue, str], Decimal]:
        """|net currency| moved by spot fills, valued in the reference currency (the configured
        valuation, else a spot pair of that base at its average price times its quote's valuation);
        the reference currencies themselves (valued 1) are cash, not exposure."""
        net = self.portfolio.spot_currency_net()
        out: dict[tuple[Venue, str], Decimal] = {}
        for (v, cur), qty in net.items():
            if not qty or self.limits.valuation.get(cur) == 1:
                continue
            rate = self.limits.valuation.get(cur)
            if rate is None:
                for (pv, _), p in self.portfolio.positions.items():
                    q = self.limits.valuation.get(p.quote)
                    if pv is v and p.base == cur and p.avg_price is not None and q is not None:
                        rate = p.avg_price * q
                        break
            if rate:
                out[(v, cur)] = abs(qty) * rate
        return out

    @staticmethod
    def _touches(new: list[tuple[Venue, str, Decimal]], venue: Venue, key: str) -> bool:
        """Whether a new intent's legs trade a pair of this currency (``kucoin:ETH`` ~ ``kucoin:ETH-USDT``)."""
        cur = key.split(":", 1)[-1]
        return any(v is venue and cur in iid.split(":", 1)[-1].split("-") for v, iid, _ in new)

    def _exposure_limits(self, new: list[tuple[Venue, str, Decimal]]) -> str | None:
        lim = self.limits
        market: dict[tuple[Venue, str], Decimal] = {}
        for (v, iid), p in self.portfolio.positions.items():
            if not p.base:  # a contract held (spot pairs count below, as the currencies they moved)
                market[(v, iid)] = self._position_value(v, iid)
        spot = self._spot_currency_values()
        for (v, cur), val in spot.items():
            market[(v, f"{v.value}:{cur}")] = val
        for r in self.in_flight.values():
            for v, iid, val in r.exposures:
                market[(v, iid)] = market.get((v, iid), ZERO) + val
        for v, iid, val in new:
            market[(v, iid)] = market.get((v, iid), ZERO) + val
        if lim.max_market_exposure is not None:
            for v, iid, _ in new:
                if market[(v, iid)] > lim.max_market_exposure:
                    return f"market {iid} exposure {market[(v, iid)]} > {lim.max_market_exposure}"
            for (v, key), val in market.items():
                if (v, key.split(":", 1)[-1]) in spot and val > lim.max_market_exposure and self._touches(new, v, key):
                    return f"currency {key} held {val} > {lim.max_market_exposure}"
        if lim.max_venue_exposure is not None:
            for venue in {v for v, _, _ in new}:
                total = sum((x for (v, _), x in market.items() if v is venue), ZERO)
                if total > lim.max_venue_exposure:
                    return f"venue {venue.value} exposure {total} > {lim.max_venue_exposure}"
        if lim.max_total_exposure is not None:
            total = sum(market.values(), ZERO)
            if total > lim.max_total_exposure:
                return f"total exposure {total} > {lim.max_total_exposure}"
        return None

    # --- feedback from execution -----------------------------------------------------------

    def on_spent(self, execution_id: str, venue: Venue, asset: str, amount: Decimal) -> None:
        """A fill of this execution spent ``amount`` of ``asset``: convert that reservation."""
        self.capital.consume(execution_id, venue, asset, amount)

    def order_sent(self, venue: Venue) -> None:
        """A compensation order left: it counts against the rate limit but is never refused."""
        b = self._buckets.get(venue.value)
        if b is not None:
            b.take(1, force=True)

    def _rate(self, intent: Intent, currency: str) -> Decimal | None:
        """Value of one ``currency`` in the reference currency: the configured valuation, else
        (BTC in a KuCoin triangle's ETH-BTC leg: nothing prices it in the limits) the ask of the
        intent's own book for a leg selling that currency for a priced one -- the higher side, so
        exposure is never understated. None: nothing prices it."""
        rate = self.limits.valuation.get(currency)
        if rate is not None:
            return rate
        for leg in intent.legs:
            inst = leg.instrument
            q = self.limits.valuation.get(inst.quote) if inst.base == currency else None
            book = intent.book_for(leg.instrument_id) if q is not None else None
            if book is not None and book.asks:
                return book.asks[0][0] * q
        return None

    def _leg_exposures(self, intent: Intent, planned: list[Decimal]) -> list[tuple[Venue, str, Decimal]]:
        out = []
        for leg, q in zip(intent.legs, planned):
            rate = self._rate(intent, leg.instrument.quote) or ZERO
            out.append((leg.venue, leg.instrument_id, q * leg.price * rate))
        return out

    def adopt(self, intent: Intent, capital: dict[tuple[Venue, str], Decimal], orders_sent: dict[Venue, int] | None = None) -> None:
        """An execution that exists without a check (recovered after a crash, or reopened by a
        late fill): it takes its slot, isolation keys, in-flight exposure and capital again, and
        ``orders_sent`` order-rate tokens (forced: it is never refused, but later intents see it)."""
        if intent.execution_id in self.in_flight:
            return
        planned = planned_quantities(intent)
        self.capital.reserve(intent.execution_id, capital)
        self.in_flight[intent.execution_id] = Reservation(
            intent.execution_id, capital, self._leg_exposures(intent, planned), self._isolation_keys(intent), planned,
            intent.strategy,
        )
        for venue, n in (orders_sent or {}).items():
            b = self._buckets.get(venue.value)
            if b is not None and n > 0:
                b.take(n, force=True)

    def restore_day(self, day: str, pnl: Decimal) -> None:
        """Start-up: the day's realised P&L as the journal has it (a restart never resets the
        daily loss limit). Trips the kill switch at once if the limit is already reached."""
        self.pnl_day, self.pnl_today = day, pnl
        lim = self.limits.daily_loss_limit
        if lim is not None and pnl <= -lim and not self.killswitch.tripped:
            self.killswitch.trip(f"daily loss limit: P&L today {pnl} (restored from the journal)", source="risk")

    @staticmethod
    def day_of(ts_ns: int) -> str:
        return _dt.datetime.fromtimestamp(ts_ns / NS, tz=_dt.timezone.utc).strftime("%Y-%m-%d")

    def release(self, execution_id: str, profit: Decimal | None = None, signal_key: str = "", traded_ns: int = 0) -> None:
        """The execution ended: free its slot, keys, exposure and unspent capital; book P&L."""
        self.in_flight.pop(execution_id, None)
        self.capital.release(execution_id)
        now = self.clock.now_ns()
        if signal_key and traded_ns:
            self.last_trade_ns[signal_key] = max(self.last_trade_ns.get(signal_key, 0), traded_ns)
        if profit is not None:
            self._roll_day(now)
            self.pnl_today += profit
            lim = self.limits.daily_loss_limit
            if lim is not None and self.pnl_today <= -lim:
                self.killswitch.trip(f"daily loss limit: P&L today {self.pnl_today}", source="risk")

    def _roll_day(self, now_ns: int) -> None:
        day = self.day_of(now_ns)
        if day != self.pnl_day:
            self.pnl_day, self.pnl_today = day, ZERO

    def status(self) -> dict:
        return {
            "killswitch": {"tripped": self.killswitch.tripped, "reason": self.killswitch.reason},
            "slots": self.limits.slots,
            "in_flight": sorted(self.in_flight),
            "pnl_today": str(self.pnl_today),
            "reserved": {f"{v.value}:{c}": str(a) for (v, c), a in self.capital.reserved.items()},
            "denials": self.denials,
        }

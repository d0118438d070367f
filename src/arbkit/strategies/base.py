"""The protocol every strategy implements, and what the host hands it.

A strategy reads facts and answers with intents. It is built once at start-up by its registry
factory (:mod:`arbkit.strategies.registry`) from its typed ``[strategies.NAME]`` table and a
:class:`StrategyContext`; from then on the :class:`~arbkit.strategies.host.StrategyHost` calls it:

* ``subscriptions()``: the instrument ids whose books it reads (the host subscribes the feeds and
  routes each book update only to the strategies that asked for that instrument);
* ``on_book(update)``: a book changed; returns intents (each carries ``strategy=self.name``);
* ``on_book_idle(instrument_id)``: a book changed while nothing may be sent (paused engine, kill
  switch, node stopping): keep caches current, decide nothing;
* ``on_trade(event)`` / ``on_fill(event)``: public trades and our own fills (facts, no answer);
* ``on_timer(now_ns)``: every ``timer_interval_s`` when that is set; may return intents;
* ``on_execution_finished(execution_id, report)``: an intent it emitted ended (``report`` is the
  execution report) or was refused by risk (``report`` None, ``denied`` the reason);
* ``status()``: a JSON-friendly dict shown under ``status()["strategies"][name]``.

A strategy that follows markets as they are listed (the market finder,
:mod:`arbkit.runtime.market_finder`) also defines, all three or none:

* ``select_market(listing) -> bool``: its filter on a :class:`~arbkit.core.events.MarketListed`
  (venue, market id, title, event, series: e.g. every market of a rolling 15-minute series);
* ``add_market(listing, yes, no)``: a selected market's instruments; from now on it lists them in
  ``subscriptions()`` (the finder re-reads the routes and subscribes the feed);
* ``retire_market(venue, market_id, instrument_ids)``: the market resolved or closed; it drops them
  (its books are no longer routed to it and the feed unsubscribes what no strategy reads).

Strategies never import the execution engine, a backend or a venue client (a unit test walks the
imports of this package). Venue metadata they need at start-up (instruments of a market, the
markets of a multi-outcome event) comes through :class:`MetadataSource`, which the node implements
with the venues' own gateways and REST endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol, runtime_checkable

from decimal import Decimal

from arbkit.core.enums import Side, Venue
from arbkit.core.instruments import Instrument
from arbkit.execution.intent import Intent
from arbkit.strategies.market_state import MarketView


@dataclass(frozen=True)
class BookUpdate:
    """One coalesced book change as the host passes it on."""

    instrument_id: str
    now_ns: int
    socket_arrival_ns: int = 0
    correlation_id: str = ""


@dataclass(frozen=True)
class EventOutcome:
    """One market of a multi-outcome event: buying its YES pays 1 when this outcome wins."""

    label: str  # the outcome's name (Gamma ``groupItemTitle``, Kalshi ``yes_sub_title``)
    yes: Instrument
    no: Instrument | None = None
    placeholder: bool = False  # augmented neg-risk "Person A": may be clarified to any new outcome
    other: bool = False  # the explicit catch-all ("Other"; Gamma ``negRiskOther``)
    tradeable: bool = True  # the venue accepts orders on it now


@dataclass(frozen=True)
class MultiOutcomeEvent:
    """Markets of one event of which exactly one resolves YES (when the venue says so)."""

    venue: Venue
    event_id: str
    title: str
    outcomes: tuple[EventOutcome, ...]
    neg_risk: bool = False  # Polymarket ``negRisk`` / ``enableNegRisk``
    augmented: bool = False  # Polymarket ``enableNegRisk`` AND ``negRiskAugmented``
    mutually_exclusive: bool = False  # Kalshi ``mutually_exclusive``: at most one market resolves YES
    exhaustive: bool = False  # at least one resolves YES (neg-risk; Kalshi only when confirmed)

    @property
    def key(self) -> str:
        return f"{self.venue.value}:event:{self.event_id}"


@dataclass(frozen=True)
class Quote:
    """One resting order a quoting strategy wants live (price and size exact, on the venue grid)."""

    instrument: Instrument
    side: Side
    price: Decimal
    size: Decimal


@dataclass(frozen=True)
class QuoteRequest:
    """The complete set of quotes a strategy wants live for one key (a market or an event).

    Not an order: the execution side's quote manager places, replaces and cancels orders so that
    what rests at the venue follows it. An outcome missing from ``quotes`` means "no quote there".
    ``instruments`` are every outcome of the key (the set that pays 1 when complete);
    ``merge_market`` names the Polymarket condition whose YES+NO pairs can be merged back into
    collateral (None: sets are held to resolution)."""

    key: str
    instruments: tuple[Instrument, ...]
    quotes: tuple[Quote, ...]
    reason: str
    merge_market: str | None = None
    neg_risk: bool = False
    strategy: str = ""


@dataclass(frozen=True)
class UnwindRequest:
    """Sell single-sided inventory (IOC, never below ``limit_price``) for the rule named in ``reason``."""

    key: str
    instrument: Instrument
    quantity: Decimal
    limit_price: Decimal
    reason: str
    strategy: str = ""


@dataclass(frozen=True)
class InventoryChange:
    """The quote manager changed what a quoting strategy holds: ``delta_qty`` shares of one outcome
    at ``delta_cost`` collateral (fees included; negative when shares leave: a merge, an unwind)."""

    key: str
    instrument_id: str
    delta_qty: Decimal
    delta_cost: Decimal
    why: str  # fill | reversal | merge | unwind | settled
    now_ns: int = 0


class MetadataSource(Protocol):
    """Venue metadata a strategy may ask for while it is built (the node implements it)."""

    async def market_instruments(self, venue: Venue, market: dict[str, str]) -> tuple[Instrument, Instrument]:
        """(YES, NO) of one binary market. Polymarket: ``condition_id``, ``yes_token``,
        ``no_token``, ``title``; Kalshi: ``ticker``."""

    async def multi_outcome_events(self, venue: Venue, *, event_ids: list[str] | None = None,
                                   limit: int = 500) -> list[MultiOutcomeEvent]:
        """Open multi-outcome events of a venue with their markets' instruments (Polymarket: Gamma
        neg-risk events; Kalshi: mutually exclusive events)."""

    def spot_instruments(self, venue: Venue) -> list[Instrument]:
        """Spot pairs a venue's gateway loaded at start-up (KuCoin)."""


@dataclass
class StrategyContext:
    """What a strategy factory gets from the node (no engine, no venue client)."""

    clock_ns: Callable[[], int]
    market: MarketView  # books of every configured venue, with freshness
    metadata: MetadataSource
    venues: frozenset[Venue]  # venues configured and connected in this node
    instruments: dict[str, Instrument]  # the node's registry: add what you trade (engine, status)
    execution: Any  # runtime.config.ExecutionConfig
    risk: Any  # runtime.config.RiskConfig
    options: dict[str, Any] = field(default_factory=dict)  # node options a strategy may read (mappings_path)
    # a venue's own book lookup (no per-call venue dispatch: hot evaluators keep it)
    book_source: Callable[[Venue], Callable[[str], Any]] = lambda venue: (lambda iid: None)
    # the feed's own tradeable check: (instrument id, max book age ns) -> bool
    is_tradeable: Callable[[str, int], bool] = lambda iid, age: False
    engine_instruments: dict[str, Instrument] = field(default_factory=dict)  # traded but not shown as books
    journal: Callable[[str, dict[str, Any], str], None] = lambda kind, rec, cid: None
    notes: list[str] = field(default_factory=list)  # start-up remarks for the dashboard

    def note(self, text: str) -> None:
        self.notes.append(text)

    def book(self, instrument_id: str) -> Any | None:
        return self.market.book(instrument_id)


@runtime_checkable
class Strategy(Protocol):
    name: str
    timer_interval_s: float | None

    def subscriptions(self) -> Iterable[str]: ...

    def on_book(self, update: BookUpdate) -> list[Intent]: ...

    def on_book_idle(self, instrument_id: str) -> None: ...

    def on_trade(self, event: Any) -> None: ...

    def on_fill(self, event: Any) -> None: ...

    def on_timer(self, now_ns: int) -> list[Intent]: ...

    def on_execution_finished(self, execution_id: str, report: Any | None, *, denied: str = "") -> None: ...

    def status(self) -> dict[str, Any]: ...


class StrategyBase:
    """No-op defaults: a strategy overrides what it uses."""

    name = ""
    timer_interval_s: float | None = None

    def subscriptions(self) -> Iterable[str]:
        return ()

    def on_book(self, update: BookUpdate) -> list[Intent]:
        return []

    def on_book_idle(self, instrument_id: str) -> None:
        return None

    def on_trade(self, event: Any) -> None:
        return None

    def on_fill(self, event: Any) -> None:
        return None

    def on_timer(self, now_ns: int) -> list[Intent]:
        return []

    def on_execution_finished(self, execution_id: str, report: Any | None, *, denied: str = "") -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {}

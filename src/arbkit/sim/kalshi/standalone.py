"""A Kalshi venue on its own: engine, markets, funded signed accounts, server (no scenario).

Tests and tools that need just the Kalshi simulator (not the whole ``arbkit sim`` runner) build
it here. Everything is real: a ``MatchingEngine``, RSA keys written as PEM files with mode 0600,
the aiohttp server on 127.0.0.1 with an ephemeral port.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from arbkit.core.clock import Clock
from arbkit.core.fees import FeeSpec
from arbkit.sim.engine import MarketSpec, MatchingEngine, SettlementConfig, StpMode
from arbkit.sim.faults import FaultPlan
from arbkit.sim.kalshi.auth import generate_key
from arbkit.sim.kalshi.fees import TAKER_RATE
from arbkit.sim.kalshi.fixed import finest_tick

KALSHI_FEE = FeeSpec(kind="kalshi", taker_rate=TAKER_RATE)


@dataclass
class KalshiAccount:
    account_id: str
    key_id: str
    private_key_path: str
    public_key_pem: str = field(repr=False)
    venue: str = "kalshi"


@dataclass
class MarketDef:
    """One binary market: its ticker (the engine market id) and Kalshi metadata."""

    ticker: str
    title: str = ""
    price_level_structure: str = "linear_cent"
    fee: FeeSpec = KALSHI_FEE
    venue_meta: dict[str, Any] = field(default_factory=dict)

    @property
    def market_id(self) -> str:
        return self.ticker


@dataclass
class StandaloneContext:
    """Same fields as the runner's VenueContext that the Kalshi server reads."""

    venue: str
    engine: MatchingEngine
    clock: Clock
    faults: FaultPlan
    markets: list[MarketDef]
    accounts: list[KalshiAccount]
    scenario: Any = None
    replay: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def build_context(
    clock: Clock,
    markets: list[MarketDef],
    key_dir: str | Path,
    n_accounts: int = 2,
    funding: Decimal = Decimal(10_000),
    stp: StpMode = StpMode.CANCEL_RESTING,
    seed: int | None = None,
) -> StandaloneContext:
    """``seed`` makes the key ids deterministic (the keys themselves are always fresh)."""
    faults = FaultPlan(clock)
    engine = MatchingEngine(
        "kalshi", clock, stp=stp, settlement=SettlementConfig(instant=True), faults=faults, order_id_style="uuid", auto_net=True
    )
    for m in markets:
        meta = dict(m.venue_meta)
        meta.setdefault("ticker", m.ticker)
        meta.setdefault("price_level_structure", m.price_level_structure)
        m.venue_meta = meta
        engine.add_market(
            MarketSpec(
                market_id=m.ticker,
                yes_symbol=f"{m.ticker}:yes",
                no_symbol=f"{m.ticker}:no",
                tick_size=finest_tick(m.price_level_structure),
                size_increment=Decimal("0.01"),
                fee=m.fee,
                currency="USD",
                event_id=meta.get("event_ticker"),
                title=m.title or m.ticker,
            )
        )
    accounts = []
    for i in range(n_accounts):
        kid = None
        if seed is not None:
            digest = hashlib.sha256(f"arbkit-sim-kalshi:{seed}:{i}".encode()).digest()[:16]
            kid = str(uuid.UUID(bytes=digest, version=4))
        key = generate_key(key_dir, key_id=kid)
        engine.accounts.create(key.key_id, {"USD": funding})
        accounts.append(KalshiAccount(account_id=key.key_id, key_id=key.key_id, private_key_path=str(key.private_key_path), public_key_pem=key.public_key_pem))
    return StandaloneContext(venue="kalshi", engine=engine, clock=clock, faults=faults, markets=markets, accounts=accounts)

"""Run the simulated Polymarket venue on its own (without the simulator runner).

Used by the server's own tests and for local poking: builds a matching engine with a few
binary markets (optionally a neg-risk event), funded test wallets with deterministic keys, and
a context object with the fields the runner's ``VenueContext`` has. The runner builds its own
context from a scenario; nothing here is used on that path.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from arbkit.core.clock import Clock, LiveClock
from arbkit.core.fees import FeeSpec
from arbkit.sim.polymarket import eip712

_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass
class SimWallet:
    """A funded simulated wallet (Polymarket accounts are EOAs; account id = lower-case address)."""

    account_id: str
    venue: str
    private_key: str
    address: str

    def __repr__(self) -> str:  # keep the key out of logs and test output
        return f"SimWallet(address={self.address!r})"


@dataclass
class StandaloneContext:
    venue: str
    engine: Any
    clock: Clock
    faults: Any = None
    scenario: Any = None
    markets: list[Any] = field(default_factory=list)
    accounts: list[SimWallet] = field(default_factory=list)
    replay: Any = None
    seed: int = 0
    deposit_wallet_accounts: tuple[int, ...] = ()  # indexes of accounts created as new API users (POLY_1271)


def wallet(seed: int, index: int) -> SimWallet:
    """Deterministic test wallet ``index`` for ``seed``."""
    n = 0
    ctr = 0
    while not 0 < n < _N:
        n = int.from_bytes(hashlib.sha256(f"arbkit-sim-polymarket-wallet:{seed}:{index}:{ctr}".encode()).digest(), "big")
        ctr += 1
    key = "0x" + n.to_bytes(32, "big").hex()
    addr = eip712.address_of(key)
    return SimWallet(account_id=addr.lower(), venue="polymarket", private_key=key, address=addr)


def token_id(seed: int, label: str) -> str:
    """A decimal uint256 token id like the venue's."""
    return str(int.from_bytes(hashlib.sha256(f"token:{seed}:{label}".encode()).digest(), "big"))


def condition_id(seed: int, label: str) -> str:
    return "0x" + hashlib.sha256(f"condition:{seed}:{label}".encode()).hexdigest()


def market_spec(
    seed: int,
    label: str,
    *,
    tick_size: Decimal = Decimal("0.01"),
    min_size: Decimal = Decimal("5"),
    neg_risk: bool = False,
    event_id: str | None = None,
    fee: FeeSpec | None = None,
    title: str = "",
) -> Any:
    from arbkit.sim.engine import MarketSpec

    return MarketSpec(
        market_id=condition_id(seed, label),
        yes_symbol=token_id(seed, label + ":yes"),
        no_symbol=token_id(seed, label + ":no"),
        tick_size=tick_size,
        size_increment=Decimal("0.01"),
        min_size=min_size,
        fee=fee or FeeSpec(kind="polymarket", taker_rate=Decimal("0.02"), exponent=1),
        currency="USDC",
        event_id=event_id,
        neg_risk=neg_risk,
        title=title or f"Will {label} happen?",
    )


def build_context(
    *,
    seed: int = 0,
    specs: list[Any] | None = None,
    wallets: int = 2,
    funding: Decimal = Decimal("10000"),
    clock: Clock | None = None,
    faults: Any = None,
    settlement: Any = None,
    deposit_wallet_accounts: tuple[int, ...] = (),
) -> StandaloneContext:
    """An engine with ``specs`` (default: one binary market and a 3-outcome neg-risk event).
    ``deposit_wallet_accounts``: indexes of wallets created as new API users, which the server gives
    a deposit wallet and lets trade only as POLY_1271 (signature type 3)."""
    from arbkit.sim.engine import MatchingEngine, SettlementConfig, StpMode

    clock = clock or LiveClock()
    engine = MatchingEngine(
        "polymarket",
        clock,
        stp=StpMode.CANCEL_RESTING,
        settlement=settlement or SettlementConfig(),
        faults=faults,
        order_id_style="hex",
    )
    if specs is None:
        specs = [market_spec(seed, "binary")]
        specs += [
            market_spec(seed, f"candidate-{c}", neg_risk=True, event_id="sim-election", tick_size=Decimal("0.001"))
            for c in ("a", "b", "c")
        ]
    for spec in specs:
        engine.add_market(spec)
    accounts = [wallet(seed, i) for i in range(wallets)]
    for acct in accounts:
        engine.accounts.create(acct.account_id, {"USDC": funding})
    return StandaloneContext(venue="polymarket", engine=engine, clock=clock, faults=faults, accounts=accounts, seed=seed,
                             deposit_wallet_accounts=tuple(deposit_wallet_accounts))


async def tick(ctx: StandaloneContext, interval_s: float = 0.05, stop: asyncio.Event | None = None) -> None:
    """Drive the engine's time-based work (settlement, GTD expiry) as the runner does."""
    while stop is None or not stop.is_set():
        ctx.engine.on_time()
        await asyncio.sleep(interval_s)

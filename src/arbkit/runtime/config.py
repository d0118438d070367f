"""Typed configuration: a TOML file for everything but secrets, environment variables (or key
files) for the secrets.

The file is decoded into frozen msgspec Structs that forbid unknown keys, so a typo is an error,
not a silently ignored setting. Every problem raises :class:`ConfigError` whose message starts
with the dotted key path (``risk.max_order_notional: expected a decimal string, got float 1.5``).

Rules that protect money:

* Money amounts and trade thresholds are exact: a decimal string (``"1500.50"``) or an integer,
  never a TOML float (``1500.5`` is a binary float and is refused).
* Secrets are never written in the file. A venue names the environment variable holding each
  secret (``private_key_env = "POLYMARKET_PRIVATE_KEY"``) or a key file (``private_key_file``);
  :func:`resolve_secret` reads it at start-up and registers it for log redaction. A secret found
  inline in the file is an error naming the key (its value is never echoed).
* Live trading refuses to start while a risk limit is unset: :meth:`Config.unset_risk_limits`.

Relative paths (``node.journal_path``, ``*_file``) are relative to the config file's directory.
"""

from __future__ import annotations

import os
import re
import tomllib
import types
import typing
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from arbkit.runtime.logging import SECRET_KEY_RE, register_secret

__all__ = [
    "Config",
    "ConfigError",
    "CrossVenueConfig",
    "ExecutionConfig",
    "HedgePolicy",
    "IsolationConfig",
    "KalshiConfig",
    "KucoinBookMode",
    "KucoinConfig",
    "LogLevel",
    "NodeConfig",
    "OrderRateLimits",
    "PolymarketConfig",
    "RiskConfig",
    "StrategiesConfig",
    "StrategyBudget",
    "TwoLegMode",
    "VenueMode",
    "VenuesConfig",
    "built_strategies",
    "load_config",
    "loads_config",
    "resolve_secret",
]


class ConfigError(ValueError):
    """A configuration problem: ``key`` is the dotted path ("" for the whole file)."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}" if key else problem)


# --- vocabularies ----------------------------------------------------------------------------


class VenueMode(str, Enum):
    PAPER = "paper"  # real market data, simulated fills
    SIM = "sim"  # live gateways against the local venue simulator
    LIVE = "live"  # real orders, real money


class LogLevel(str, Enum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class JournalFsync(str, Enum):
    """When the journal's records reach the disk (README, "Durability")."""

    GROUP = "group"  # an order waits for its records to be written (survives kill -9); fsync follows within ms
    EVERY_ORDER = "every_order"  # an order waits for the fsync (survives a power cut before it is sent)


class TwoLegMode(str, Enum):
    PARALLEL = "parallel"
    SEQUENTIAL = "sequential"


class HedgePolicy(str, Enum):
    MARKET = "market"  # flatten the exposed leg at once, with a worst price
    CHASE = "chase"  # re-price the missing leg for chase_seconds, then flatten
    HOLD = "hold"  # keep the exposed leg (a person decides)


class _Table(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


# --- sections --------------------------------------------------------------------------------


class NodeConfig(_Table):
    name: str = "arbkit"
    journal_path: str = "journal.sqlite"
    journal_fsync: JournalFsync = JournalFsync.GROUP
    journal_group_commit_ms: float = 2.0  # group: the fsync follows a commit within this
    log_level: LogLevel = LogLevel.INFO
    log_json: bool = True
    metrics_port: int | None = None  # Prometheus exporter; None = off
    control_url: str = "tcp://127.0.0.1:7710"  # NNG REQ/REP control channel (ipc://, tcp://)
    record_dir: str | None = None  # record every venue's frames, REST snapshots and metadata here (docs/recording.md)


class PolymarketConfig(_Table):
    mode: VenueMode
    rest_url: str = "https://clob.polymarket.com"
    ws_market_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
    ws_user_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws/user"
    chain_id: int = 137
    signature_type: int = 0  # 0 EOA, 1 email/magic proxy, 2 browser proxy (Gnosis safe), 3 deposit wallet (POLY_1271)
    funder: str | None = None  # proxy wallet address holding the funds (public)
    private_key_env: str | None = None  # L1 signing key (EIP-712 orders)
    private_key_file: str | None = None
    api_key_env: str | None = None  # L2 HMAC credentials; derived from the private key when unset
    api_secret_env: str | None = None
    api_passphrase_env: str | None = None
    max_instruments_per_connection: int = 500
    # Gamma (events, neg-risk structure): None = the venue's public Gamma in paper/live, and the
    # simulator's Gamma at rest_url + "/gamma" in sim mode
    gamma_url: str | None = None

    def effective_gamma_url(self) -> str:
        if self.gamma_url:
            return self.gamma_url
        return self.rest_url.rstrip("/") + "/gamma" if self.mode is VenueMode.SIM else "https://gamma-api.polymarket.com"

    def credential_problems(self) -> list[str]:
        if not (self.private_key_env or self.private_key_file):
            return ["needs private_key_env or private_key_file"]
        l2 = [self.api_key_env, self.api_secret_env, self.api_passphrase_env]
        if any(l2) and not all(l2):
            return ["api_key_env, api_secret_env and api_passphrase_env go together (or none: derived from the private key)"]
        return []


class KalshiConfig(_Table):
    mode: VenueMode
    rest_url: str = "https://external-api.kalshi.com/trade-api/v2"
    ws_url: str = "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
    api_key_id_env: str | None = None  # the key id sent in KALSHI-ACCESS-KEY
    private_key_env: str | None = None  # RSA private key (PEM) for RSA-PSS request signing
    private_key_file: str | None = None

    def credential_problems(self) -> list[str]:
        out = []
        if not self.api_key_id_env:
            out.append("needs api_key_id_env")
        if not (self.private_key_env or self.private_key_file):
            out.append("needs private_key_env or private_key_file")
        return out


class KucoinBookMode(str, Enum):
    """How the KuCoin feed keeps books: ``level2`` (``/market/level2`` changes on a REST snapshot,
    every level, synchronised by sequence) or ``depth50`` (``/spotMarket/level2Depth50`` snapshots
    of the best 50 levels every 100 ms; no REST snapshot, no sequence). docs/venues/kucoin.md."""

    LEVEL2 = "level2"
    DEPTH50 = "depth50"


class KucoinConfig(_Table):
    mode: VenueMode
    rest_url: str = "https://api.kucoin.com"
    ws_url: str | None = None  # None: ask the bullet endpoint for the WS address and token
    book_mode: KucoinBookMode = KucoinBookMode.LEVEL2
    api_key_env: str | None = None
    api_secret_env: str | None = None
    api_passphrase_env: str | None = None

    def credential_problems(self) -> list[str]:
        missing = [k for k in ("api_key_env", "api_secret_env", "api_passphrase_env") if not getattr(self, k)]
        return [f"needs {', '.join(missing)}"] if missing else []


VenueConfig = PolymarketConfig | KalshiConfig | KucoinConfig


class VenuesConfig(_Table):
    polymarket: PolymarketConfig | None = None
    kalshi: KalshiConfig | None = None
    kucoin: KucoinConfig | None = None

    def configured(self) -> dict[str, VenueConfig]:
        return {n: v for n in ("polymarket", "kalshi", "kucoin") if (v := getattr(self, n)) is not None}


class OrderRateLimits(_Table):
    """Orders per second we allow ourselves to send to each venue."""

    polymarket: int | None = None
    kalshi: int | None = None
    kucoin: int | None = None


class IsolationConfig(_Table):
    """At most one execution at a time on the same ..."""

    same_pair: bool = True  # cross-venue pair (mapping)
    same_triangle: bool = True  # KuCoin triangle
    same_primary_quote: bool = False  # quote currency shared by triangles


class StrategyBudget(_Table):
    """``[risk.strategies.NAME]``: one strategy's own share of the risk engine's slots and
    in-flight exposure (its intents carry its name); unset = only the global limits apply."""

    slots: int | None = None  # concurrent executions of this strategy
    max_exposure: Decimal | None = None  # in-flight notional of this strategy's executions (USD)


class RiskConfig(_Table):
    """Pre-trade limits. Money in USD (pUSD/USDC/USDT at par). None = unset: fine for paper and
    sim, refused for live."""

    max_order_notional: Decimal | None = None
    max_market_exposure: Decimal | None = None
    max_venue_exposure: Decimal | None = None
    max_total_exposure: Decimal | None = None
    daily_loss_limit: Decimal | None = None  # a positive amount: trading stops when losses reach it
    max_concurrent_executions: int | None = None
    max_book_age_ms: int | None = None
    max_signal_age_ms: int | None = None
    order_rate_limits: OrderRateLimits = OrderRateLimits()
    isolation: IsolationConfig = IsolationConfig()
    strategies: dict[str, StrategyBudget] = {}


class CrossVenueConfig(_Table):
    """Polymarket <-> Kalshi binary arbitrage on approved mappings.

    Execution settings of this strategy; unset ones take the ``[execution]`` value (or the
    built-in default shown by ``arbkit config check``)::

        [strategies.cross_venue]
        enabled = true
        min_edge_bps = 100
        max_size = "20"
        two_leg_mode = "sequential"      # parallel | sequential (default: execution.two_leg_mode)
        first_leg = "auto"               # sequential: auto (the less liquid book first) | polymarket | kalshi
        leg_timeout_ms = 3000
        hedge_policy = "chase"           # market | chase | hold
        hedge_chase_seconds = 1.5
        hedge_max_slippage_bps = "150"   # worst hedge price vs the reference price
        hedge_timeout_ms = 8000          # the whole compensation
        hedge_max_attempts = 3           # market-out attempts
        cooldown_ms = 1000               # after our trade on a mapping; then both books must update
        max_silence_polymarket_ms = 12000  # a book is fresh while its connection shows life this often
        max_silence_kalshi_ms = 5000       # (PONGs, data on the socket); default risk.max_book_age_ms

    Freshness: a book is current while its connection is alive (Polymarket: data or the PONG to
    our 10 s PING; Kalshi: data or the PONG to the feed's measured PING every
    ``liveness_ping_s``, 1 s), however long ago the book last changed. ``risk.max_book_age_ms`` then
    ages a book from the last time it was confirmed current (the intent's snapshot carries that
    time), so it must exceed the liveness period of a quiet connection: about 1.5 s for Kalshi, and
    ~12 s for a Polymarket connection whose assets are all quiet (it PINGs every 10 s, as the venue
    asks)."""

    enabled: bool
    min_edge_bps: Decimal
    max_size: Decimal  # contracts per execution
    safety_margin_bps: Decimal = Decimal(0)
    two_leg_mode: TwoLegMode | None = None  # parallel | sequential (default: execution.two_leg_mode)
    first_leg: str = "auto"  # sequential: auto (less liquid book first) | polymarket | kalshi
    leg_timeout_ms: int | None = None  # default: execution.leg_timeout_ms
    hedge_policy: HedgePolicy | None = None  # default: execution.hedge_policy
    hedge_chase_seconds: float | None = None  # default: execution.chase_seconds
    hedge_max_slippage_bps: Decimal | None = None  # worst hedge price vs the reference (default 200)
    hedge_timeout_ms: int | None = None  # the whole compensation (default 10000)
    hedge_max_attempts: int | None = None  # market-out attempts (default 5)
    cooldown_ms: int = 0  # after an execution on a mapping (then both books must update too)
    max_silence_polymarket_ms: int | None = None  # allowed connection silence (default: risk.max_book_age_ms)
    max_silence_kalshi_ms: int | None = None

    def effective(self, execution: "ExecutionConfig") -> dict[str, Any]:
        """The settings this strategy runs with, defaults resolved (shown by config check)."""
        return {
            "two_leg_mode": (self.two_leg_mode or execution.two_leg_mode).value,
            "first_leg": self.first_leg,
            "leg_timeout_ms": self.leg_timeout_ms if self.leg_timeout_ms is not None else execution.leg_timeout_ms,
            "hedge_policy": (self.hedge_policy or execution.hedge_policy).value,
            "hedge_chase_seconds": self.hedge_chase_seconds if self.hedge_chase_seconds is not None else execution.chase_seconds,
            "hedge_max_slippage_bps": self.hedge_max_slippage_bps if self.hedge_max_slippage_bps is not None else Decimal(200),
            "hedge_timeout_ms": self.hedge_timeout_ms if self.hedge_timeout_ms is not None else 10_000,
            "hedge_max_attempts": self.hedge_max_attempts if self.hedge_max_attempts is not None else 5,
            "cooldown_ms": self.cooldown_ms,
            "max_silence_polymarket_ms": self.max_silence_polymarket_ms,
            "max_silence_kalshi_ms": self.max_silence_kalshi_ms,
        }


class TriangularTableConfig(_Table):
    """KuCoin triangular arbitrage (start -> A -> B -> start, three cascading IOC legs)::

        [strategies.triangular]
        enabled = true
        start_currencies = ["USDT"]
        max_start = { USDT = "500" }      # per start currency: the largest starting amount (decimal strings)
        min_edge_bps = "20"              # after fees, on the walked depth
        max_levels = 20                  # book levels walked per leg
        symbols = ["BTC-USDT", "ETH-BTC", "ETH-USDT"]  # optional: the universe (default: every enabled pair)
        leg_timeout_ms = 3000            # default: execution.leg_timeout_ms
        hedge_policy = "market"          # how a broken cascade unwinds (default: execution.hedge_policy)
        hedge_max_slippage_bps = "150"
        max_book_age_ms = 5000           # default: risk.max_book_age_ms (else 5000)
        await_balance = false            # size legs 2 and 3 from the balance KuCoin reports (/account/balance)
        await_balance_timeout_ms = 2000  # then the fill-derived amount, with an alert (sim/live only)
    """

    enabled: bool
    min_edge_bps: Decimal
    start_currencies: list[str] = msgspec.field(default_factory=lambda: ["USDT"])
    max_start: dict[str, str] = {}
    max_levels: int = 20
    symbols: list[str] | None = None
    leg_timeout_ms: int | None = None
    hedge_policy: HedgePolicy | None = None
    hedge_chase_seconds: float | None = None
    hedge_max_slippage_bps: Decimal | None = None
    hedge_timeout_ms: int | None = None
    hedge_max_attempts: int | None = None
    max_book_age_ms: int | None = None
    await_balance: bool = False
    await_balance_timeout_ms: int = 2000

    def max_start_decimal(self) -> dict[str, Decimal]:
        """``max_start`` as exact Decimals (validated at load)."""
        return {c: Decimal(v) for c, v in self.max_start.items()}

    def effective(self, execution: "ExecutionConfig", risk: "RiskConfig | None" = None) -> dict[str, Any]:
        return {
            "leg_timeout_ms": self.leg_timeout_ms if self.leg_timeout_ms is not None else execution.leg_timeout_ms,
            "hedge_policy": (self.hedge_policy or execution.hedge_policy).value,
            "hedge_chase_seconds": self.hedge_chase_seconds if self.hedge_chase_seconds is not None else execution.chase_seconds,
            "hedge_max_slippage_bps": self.hedge_max_slippage_bps if self.hedge_max_slippage_bps is not None else Decimal(200),
            "hedge_timeout_ms": self.hedge_timeout_ms if self.hedge_timeout_ms is not None else 10_000,
            "hedge_max_attempts": self.hedge_max_attempts if self.hedge_max_attempts is not None else 5,
            "max_book_age_ms": self.max_book_age_ms if self.max_book_age_ms is not None else
            ((risk.max_book_age_ms if risk is not None else None) or 5000),
        }


class StrategiesConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Every ``[strategies.NAME]`` table, typed by the strategy registry
    (:mod:`arbkit.strategies.registry`): ``tables[name]`` is that strategy's config struct. A name
    the registry does not have is refused at load. Each table needs ``enabled``."""

    tables: dict[str, Any] = {}

    def get(self, name: str) -> Any | None:
        return self.tables.get(name)

    @property
    def cross_venue(self) -> "CrossVenueConfig | None":
        return self.tables.get("cross_venue")

    @property
    def triangular(self) -> "TriangularTableConfig | None":
        return self.tables.get("triangular")

    def enabled(self) -> list[str]:
        return [n for n, t in self.tables.items() if t.enabled]

    def names(self) -> list[str]:
        return list(self.tables)


class ExecutionConfig(_Table):
    two_leg_mode: TwoLegMode = TwoLegMode.PARALLEL
    leg_timeout_ms: int = 5000
    hedge_policy: HedgePolicy = HedgePolicy.MARKET
    chase_seconds: float = 0.0


def built_strategies() -> list[str]:
    """Names of the ``[strategies.NAME]`` tables this build runs: the strategy registry's. Any
    other name is refused (a strategy that is not built must not look configured)."""
    from arbkit.strategies import registry

    return registry.names()


_RISK_LIMIT_KEYS = (
    "max_order_notional",
    "max_market_exposure",
    "max_venue_exposure",
    "max_total_exposure",
    "daily_loss_limit",
    "max_concurrent_executions",
    "max_book_age_ms",
)


class Config(_Table):
    node: NodeConfig = NodeConfig()
    venues: VenuesConfig = VenuesConfig()
    risk: RiskConfig = RiskConfig()
    strategies: StrategiesConfig = StrategiesConfig()
    execution: ExecutionConfig = ExecutionConfig()

    def live_venues(self) -> list[str]:
        return [n for n, v in self.venues.configured().items() if v.mode is VenueMode.LIVE]

    def unset_risk_limits(self) -> list[str]:
        """Dotted keys of risk limits that are unset (live trading refuses to start while any is)."""
        out = [f"risk.{k}" for k in _RISK_LIMIT_KEYS if getattr(self.risk, k) is None]
        out += [f"risk.order_rate_limits.{n}" for n in self.venues.configured() if getattr(self.risk.order_rate_limits, n) is None]
        return out

    def paper_problems(self) -> list[str]:
        """Why this configuration may not paper-trade: paper results mean something only under the
        limits live trading would have, so every risk limit must be set there too (empty when no
        venue is in mode paper)."""
        if not any(v.mode is VenueMode.PAPER for v in self.venues.configured().values()):
            return []
        return [f"{k}: must be set for paper trading (paper results mean something only under live limits)"
                for k in self.unset_risk_limits()]

    def check_problems(self) -> list[str]:
        """Everything ``arbkit config check`` refuses beyond what loading refuses: no venue, no
        strategy enabled, unset risk limits in paper or live mode."""
        out = []
        if not self.venues.configured():
            out.append("venues: no venue is configured (add a [venues.polymarket] / [venues.kalshi] table)")
        if not self.strategies.enabled():
            out.append("strategies: no strategy is enabled: nothing would trade "
                       f"(this build has: {', '.join(built_strategies())})")
        return out + self.paper_problems() + self.live_problems()

    def check_warnings(self) -> list[str]:
        """What ``config check`` warns about without refusing: an enabled strategy whose venues
        are not all configured (it runs on those that are, or not at all)."""
        from arbkit.strategies import registry

        out = []
        configured = set(self.venues.configured())
        for name in self.strategies.enabled():
            spec = registry.get(name)
            if spec is None:
                continue
            missing = [v for v in spec.venues(self.strategies.tables[name]) if v not in configured]
            if missing:
                out.append(f"strategies.{name}: enabled, but {', '.join('venues.' + v for v in missing)} "
                           f"{'is' if len(missing) == 1 else 'are'} not configured: it does not trade there")
        return out

    def live_problems(self) -> list[str]:
        """Why this configuration may not trade live (empty when it may, or when nothing is live)."""
        if not self.live_venues():
            return []
        return [f"{k}: must be set for live trading" for k in self.unset_risk_limits()]

    def secret_refs(self) -> dict[str, str]:
        """Dotted key -> environment variable name or key file path, for every configured secret."""
        out: dict[str, str] = {}
        for name, v in self.venues.configured().items():
            for f in msgspec.structs.fields(v):
                if f.name.endswith(("_env", "_file")):
                    val = getattr(v, f.name)
                    if val:
                        out[f"venues.{name}.{f.name}"] = val
        return out

    def missing_secrets(self, env: typing.Mapping[str, str] | None = None) -> list[str]:
        """Secrets of live venues that are not available here (unset variable, missing file)."""
        env = os.environ if env is None else env
        out = []
        live = set(self.live_venues())
        for key, ref in self.secret_refs().items():
            if key.split(".")[1] not in live:
                continue
            if key.endswith("_env") and not env.get(ref):
                out.append(f"{key}: environment variable {ref} is not set")
            elif key.endswith("_file") and not Path(ref).is_file():
                out.append(f"{key}: key file {ref} does not exist")
        return out

    def summary(self) -> list[str]:
        venues = ", ".join(f"{n}={v.mode.value}" for n, v in self.venues.configured().items()) or "none"
        enabled = ", ".join(self.strategies.enabled()) or "none"
        disabled = [n for n in self.strategies.names() if n not in self.strategies.enabled()]
        lines = [
            f"node: {self.node.name} (journal {self.node.journal_path}, fsync {self.node.journal_fsync.value}"
            + (f" within {self.node.journal_group_commit_ms:g} ms" if self.node.journal_fsync.value == "group" else "")
            + f", log {self.node.log_level.value})",
            f"venues: {venues}",
            f"strategies enabled: {enabled}" + (f" (disabled: {', '.join(disabled)})" if disabled else ""),
            f"execution: two-leg {self.execution.two_leg_mode.value}, leg timeout {self.execution.leg_timeout_ms} ms, hedge {self.execution.hedge_policy.value}",
        ]
        from arbkit.strategies import registry

        for name, table in self.strategies.tables.items():
            spec = registry.get(name)
            if spec is not None and spec.summary is not None:
                lines.append(spec.summary(table, self))
        for name, budget in self.risk.strategies.items():
            lines.append(f"risk budget {name}: slots {budget.slots if budget.slots is not None else 'shared'}, "
                         f"in-flight exposure {budget.max_exposure if budget.max_exposure is not None else 'shared'}")
        unset = self.unset_risk_limits()
        lines.append(f"risk limits unset: {', '.join(unset)}" if unset else "risk limits: all set")
        return lines


def _summary_cross_venue(cv: "CrossVenueConfig", cfg: "Config") -> str:
    e = cv.effective(cfg.execution)
    silence = ", ".join(f"{v} {e[f'max_silence_{v}_ms']} ms" if e[f"max_silence_{v}_ms"] else f"{v} = book age limit"
                        for v in ("polymarket", "kalshi"))
    return (f"cross_venue: two-leg {e['two_leg_mode']}"
            + (f" (first leg {e['first_leg']})" if e["two_leg_mode"] == "sequential" else "")
            + f", leg timeout {e['leg_timeout_ms']} ms, hedge {e['hedge_policy']}"
            + (f" (chase {e['hedge_chase_seconds']} s)" if e["hedge_policy"] == "chase" else "")
            + f", hedge slippage {e['hedge_max_slippage_bps']} bps, hedge timeout {e['hedge_timeout_ms']} ms, "
            f"hedge attempts {e['hedge_max_attempts']}, cooldown {e['cooldown_ms']} ms (then both books must update), "
            f"max silence {silence}")


def _summary_triangular(tri: "TriangularTableConfig", cfg: "Config") -> str:
    e = tri.effective(cfg.execution, cfg.risk)
    return ("triangular: start " + ", ".join(c + " up to " + tri.max_start.get(c, "(unset)") for c in tri.start_currencies) + ", "
            f"min edge {tri.min_edge_bps} bps, {tri.max_levels} levels, "
            f"universe {'all enabled pairs' if tri.symbols is None else str(len(tri.symbols)) + ' pairs'}, "
            f"leg timeout {e['leg_timeout_ms']} ms, hedge {e['hedge_policy']}, book age {e['max_book_age_ms']} ms, "
            + (f"await balance (timeout {tri.await_balance_timeout_ms} ms)" if tri.await_balance
               else "legs sized from fills (await_balance off)"))


# --- loading ---------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a TOML config file (see the module docstring)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("", f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"{p}: cannot read: {exc}") from None
    return loads_config(text, base_dir=p.resolve().parent, source=str(p))


def loads_config(text: str, *, base_dir: str | os.PathLike[str] | None = None, source: str = "<config>") -> Config:
    """Validate TOML text; relative paths are made relative to ``base_dir`` (default: cwd)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{source}: not valid TOML: {exc}") from None
    if not data:
        raise ConfigError("", f"{source}: the file is empty (no tables, no keys): a node needs at least one "
                              "[venues.NAME] table, its [risk] limits and a [strategies.NAME] table; see examples/")
    cfg = _build(data)
    return _resolve_paths(cfg, Path(base_dir) if base_dir is not None else Path.cwd())


def _build(data: dict[str, Any]) -> Config:
    _check_no_inline_secrets(data, "")
    strategies_raw = data.pop("strategies", {})
    _coerce_exact(data, Config, "")
    try:
        cfg = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        raise _translate(exc, data, Config, "") from None
    strategies = _build_strategies(strategies_raw)
    cfg = msgspec.structs.replace(cfg, strategies=strategies)
    _validate(cfg)
    return cfg


def _build_strategies(raw: Any) -> StrategiesConfig:
    from arbkit.strategies import registry

    if not isinstance(raw, dict):
        raise ConfigError("strategies", f"expected a table, got {_toml_type(raw)} {_show(raw)}")
    tables: dict[str, Any] = {}
    for name, table in raw.items():
        key = f"strategies.{name}"
        spec = registry.get(name)
        if spec is None:
            raise ConfigError(key, f"no such strategy in this build (available: {', '.join(built_strategies())})")
        if not isinstance(table, dict):
            raise ConfigError(key, f"expected a table, got {_toml_type(table)} {_show(table)}")
        if "enabled" not in table:
            raise ConfigError(f"{key}.enabled", "required key is missing (true or false)")
        if not isinstance(table["enabled"], bool):
            raise ConfigError(f"{key}.enabled", f"expected true or false, got {_toml_type(table['enabled'])} {_show(table['enabled'])}")
        tables[name] = spec.decode(table, key) if spec.decode is not None else decode_table(table, spec.table(), key)
    order = registry.names()
    return StrategiesConfig(tables={n: tables[n] for n in sorted(tables, key=order.index)})


def decode_table(table: dict[str, Any], struct: type, key: str) -> Any:
    """A raw ``[strategies.NAME]`` table as its typed struct: exact decimals (floats refused),
    unknown keys named with the allowed ones, every problem as ``key.path: problem``."""
    table = dict(table)
    _coerce_exact(table, struct, key)
    try:
        return msgspec.convert(table, struct)
    except msgspec.ValidationError as exc:
        raise _translate(exc, table, struct, key) from None


def _build_triangular(table: dict[str, Any], key: str) -> TriangularTableConfig:
    table = dict(table)
    if "start_currency" in table:  # the one-currency spelling: start_currency = "USDT"
        one = table.pop("start_currency")
        if "start_currencies" in table:
            raise ConfigError(f"{key}.start_currency", "give start_currency or start_currencies, not both")
        if not isinstance(one, str):
            raise ConfigError(f"{key}.start_currency", f"expected a string, got {_toml_type(one)} {_show(one)}")
        table["start_currencies"] = [one]
    ms = table.get("max_start", {})
    if not isinstance(ms, dict):
        raise ConfigError(f"{key}.max_start", f"expected a table of currency = \"amount\", got {_toml_type(ms)} {_show(ms)}")
    exact = {}
    for cur, v in ms.items():
        d = _exact_decimal(f"{key}.max_start.{cur}", v)
        if d <= 0:
            raise ConfigError(f"{key}.max_start.{cur}", f"must be > 0, got {d}")
        exact[cur] = str(d)
    table["max_start"] = exact
    _coerce_exact(table, TriangularTableConfig, key)
    try:
        tri = msgspec.convert(table, TriangularTableConfig)
    except msgspec.ValidationError as exc:
        raise _translate(exc, table, TriangularTableConfig, key) from None
    k = key + "."
    if not tri.start_currencies:
        raise ConfigError(k + "start_currencies", "must name at least one currency")
    for cur in tri.start_currencies if tri.enabled else ():
        if cur not in tri.max_start:
            raise ConfigError(k + "max_start", f"has no amount for start currency {cur!r} (add {cur} = \"...\")")
    if tri.min_edge_bps < 0:
        raise ConfigError(k + "min_edge_bps", f"must be >= 0, got {tri.min_edge_bps}")
    if not 1 <= tri.max_levels <= 100:
        raise ConfigError(k + "max_levels", f"must be 1..100, got {tri.max_levels}")
    for name in ("leg_timeout_ms", "hedge_timeout_ms", "hedge_max_attempts", "max_book_age_ms", "await_balance_timeout_ms"):
        val = getattr(tri, name)
        if val is not None and val < 1:
            raise ConfigError(k + name, f"must be >= 1, got {val}")
    if tri.hedge_max_slippage_bps is not None and not 0 < tri.hedge_max_slippage_bps <= 10_000:
        raise ConfigError(k + "hedge_max_slippage_bps", f"must be in (0, 10000], got {tri.hedge_max_slippage_bps}")
    if tri.hedge_chase_seconds is not None and tri.hedge_chase_seconds < 0:
        raise ConfigError(k + "hedge_chase_seconds", f"must be >= 0, got {tri.hedge_chase_seconds}")
    if tri.symbols is not None and len(tri.symbols) < 3:
        raise ConfigError(k + "symbols", f"a triangle needs at least 3 pairs, got {len(tri.symbols)}")
    return tri


# --- exact numbers and secrets, checked on the raw TOML before conversion ----------------------

_ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_PEM_RE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_HEX_KEY_RE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def _join(prefix: str, key: str) -> str:
    if not key:
        return prefix
    return f"{prefix}.{key}" if prefix else key


def _check_no_inline_secrets(value: Any, path: str) -> None:
    """A secret written in the file is an error naming the key; its value is never shown."""
    if isinstance(value, dict):
        for k, v in value.items():
            key = _join(path, str(k))
            if isinstance(v, str) and v and SECRET_KEY_RE.search(str(k)) and not re.search(r"(_env|_file|token_?ids?)$", str(k), re.I):
                raise ConfigError(
                    key,
                    f"secrets must not be written in the config file: put it in an environment variable and name the "
                    f"variable in {k}_env (or a key file path in {k}_file)",
                )
            _check_no_inline_secrets(v, key)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_no_inline_secrets(v, f"{path}[{i}]")
    elif isinstance(value, str):
        # A bare 64-hex value is only suspicious in a venue section: elsewhere (strategy
        # tables) it is usually a Polymarket condition id, which is public.
        if _PEM_RE.search(value) or (path.startswith("venues.") and _HEX_KEY_RE.match(value.strip())):
            raise ConfigError(path, "looks like a private key written in the config file: use an environment variable or key file (value not shown)")


def _unwrap_optional(tp: Any) -> Any:
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _coerce_exact(data: dict[str, Any], struct: type, path: str) -> None:
    """Turn money strings/ints into Decimal in place; refuse floats (and bad strings) with the key."""
    fields = {f.name: _unwrap_optional(f.type) for f in msgspec.structs.fields(struct)}
    for k, v in list(data.items()):
        tp = fields.get(k)
        if tp is None:
            continue  # unknown keys are reported by the conversion, with the allowed keys
        key = _join(path, k)
        if tp is Decimal:
            data[k] = _exact_decimal(key, v)
        elif _is_struct(tp) and isinstance(v, dict):
            _coerce_exact(v, tp, key)
        elif typing.get_origin(tp) is dict and _is_struct(typing.get_args(tp)[-1]) and isinstance(v, dict):
            for name, sub in v.items():  # e.g. risk.strategies.NAME
                if isinstance(sub, dict):
                    _coerce_exact(sub, typing.get_args(tp)[-1], _join(key, str(name)))


def _exact_decimal(key: str, v: Any) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise ConfigError(key, f"expected a decimal string, got {_toml_type(v)} {_show(v)}")
    if isinstance(v, float):
        raise ConfigError(key, f'expected a decimal string, got float {v!r} (write "{v!r}": TOML floats are not exact)')
    if isinstance(v, int):
        return Decimal(v)
    try:
        d = Decimal(v.strip())
    except InvalidOperation:
        raise ConfigError(key, f"expected a decimal string, got {_show(v)}") from None
    if not d.is_finite():
        raise ConfigError(key, f"must be a finite number, got {_show(v)}")
    return d


# --- translating msgspec errors into "key: problem" --------------------------------------------

_MSGSPEC_ERR_RE = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.S)
_TYPE_WORDS = {
    "int": "an integer",
    "str": "a string",
    "bool": "true or false",
    "float": "a number",
    "object": "a table",
    "array": "an array",
    "decimal": "a decimal string",
}


def _toml_type(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "table"
    if isinstance(v, list):
        return "array"
    return type(v).__name__


def _show(v: Any) -> str:
    s = repr(v) if not isinstance(v, bool) else str(v).lower()
    return s if len(s) <= 60 else s[:57] + "..."


def _split_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for m in re.finditer(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]", path.removeprefix("$")):
        if m.group(1) is not None:
            parts.append(m.group(1))
        elif m.group(2) != "...":
            parts.append(int(m.group(2)))
    return parts


def _type_at(root: type, parts: list[str | int]) -> Any:
    tp: Any = root
    for part in parts:
        tp = _unwrap_optional(tp)
        if _is_struct(tp) and isinstance(part, str):
            fields = {f.name: f.type for f in msgspec.structs.fields(tp)}
            if part not in fields:
                return None
            tp = fields[part]
        elif typing.get_origin(tp) in (list, dict):
            tp = typing.get_args(tp)[-1]
        else:
            return None
    return _unwrap_optional(tp)


def _value_at(data: Any, parts: list[str | int]) -> Any:
    for part in parts:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _translate(exc: msgspec.ValidationError, data: dict[str, Any], root: type, prefix: str) -> ConfigError:
    m = _MSGSPEC_ERR_RE.match(str(exc))
    assert m is not None
    msg, raw_path = m.group("msg"), m.group("path") or "$"
    parts = _split_path(raw_path)
    dotted = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in parts).replace(".[", "[")
    base = _join(prefix, dotted) if dotted else prefix

    if mm := re.match(r"Object contains unknown field `(.+)`", msg):
        tp = _type_at(root, parts)
        allowed = ", ".join(f.name for f in msgspec.structs.fields(tp)) if _is_struct(tp) else ""
        return ConfigError(_join(base, mm.group(1)), "unknown key (a typo?)" + (f"; allowed here: {allowed}" if allowed else ""))
    if mm := re.match(r"Object missing required field `(.+)`", msg):
        return ConfigError(_join(base, mm.group(1)), "required key is missing")
    if mm := re.match(r"Invalid enum value (.+)", msg):
        tp = _type_at(root, parts)
        choices = "|".join(e.value for e in tp) if isinstance(tp, type) and issubclass(tp, Enum) else "?"
        return ConfigError(base, f"must be one of {choices}, got {mm.group(1)}")
    if mm := re.match(r"Expected `(.+?)`, got `(.+?)`", msg):
        want = " or ".join(_TYPE_WORDS.get(w.strip(), w.strip()) for w in mm.group(1).split("|") if w.strip() != "null")
        got = _value_at(data, parts)
        got_text = f"{_toml_type(got)} {_show(got)}" if got is not None else mm.group(2)
        return ConfigError(base, f"expected {want}, got {got_text}")
    return ConfigError(base, msg[:1].lower() + msg[1:])


# --- semantic checks after conversion --------------------------------------------------------


def _validate(cfg: Config) -> None:
    n = cfg.node
    if not n.name.strip():
        raise ConfigError("node.name", "must not be empty")
    if n.metrics_port is not None and not 1 <= n.metrics_port <= 65535:
        raise ConfigError("node.metrics_port", f"must be a TCP port 1..65535, got {n.metrics_port}")
    _check_url("node.control_url", n.control_url, ("ipc", "tcp", "inproc"))
    if not 0 <= n.journal_group_commit_ms <= 100:
        raise ConfigError("node.journal_group_commit_ms", f"must be between 0 and 100 (milliseconds), got {n.journal_group_commit_ms}")

    for name, v in cfg.venues.configured().items():
        key = f"venues.{name}"
        for f in msgspec.structs.fields(v):
            val = getattr(v, f.name)
            if val is None:
                continue
            fkey = f"{key}.{f.name}"
            if f.name.endswith("_env") and not _ENV_NAME_RE.match(val):
                # Never echo the value: it may be the secret itself pasted in the wrong place.
                raise ConfigError(
                    fkey,
                    "must be the NAME of an environment variable (A-Z, 0-9, _; e.g. POLYMARKET_PRIVATE_KEY), "
                    "not the secret itself (value not shown)",
                )
            if f.name in ("rest_url", "gamma_url") or f.name.endswith("ws_url") or f.name.startswith("ws_"):
                schemes = ("http", "https") if f.name in ("rest_url", "gamma_url") else ("ws", "wss")
                if v.mode is VenueMode.LIVE:
                    schemes = schemes[1:]  # real money never travels over plaintext
                host = _check_url(fkey, val, schemes)
                if v.mode is VenueMode.SIM and host not in ("127.0.0.1", "localhost", "::1"):
                    raise ConfigError(fkey, f"sim mode talks to the local venue simulator: the host must be 127.0.0.1, got {host!r}")
        if v.mode is VenueMode.LIVE:
            for problem in v.credential_problems():
                raise ConfigError(key, f"live mode {problem}")
        if isinstance(v, PolymarketConfig):
            if v.signature_type not in (0, 1, 2, 3):
                raise ConfigError(f"{key}.signature_type", f"must be 0 (EOA), 1 (email/magic proxy), 2 (browser proxy) or 3 (deposit wallet, POLY_1271), got {v.signature_type}")
            if v.signature_type in (1, 2, 3) and not v.funder:
                raise ConfigError(f"{key}.funder", "signature types 1-3 need the funder (proxy, safe or deposit wallet address)")
            if not 1 <= v.max_instruments_per_connection <= 500:
                raise ConfigError(f"{key}.max_instruments_per_connection", f"must be 1..500 (the venue's limit), got {v.max_instruments_per_connection}")

    r = cfg.risk
    for k in ("max_order_notional", "max_market_exposure", "max_venue_exposure", "max_total_exposure", "daily_loss_limit"):
        val = getattr(r, k)
        if val is not None and val <= 0:
            raise ConfigError(f"risk.{k}", f"must be > 0, got {val}")
    for k in ("max_concurrent_executions", "max_book_age_ms", "max_signal_age_ms"):
        val = getattr(r, k)
        if val is not None and val < 1:
            raise ConfigError(f"risk.{k}", f"must be >= 1, got {val}")
    for f in msgspec.structs.fields(r.order_rate_limits):
        val = getattr(r.order_rate_limits, f.name)
        if val is not None and val < 1:
            raise ConfigError(f"risk.order_rate_limits.{f.name}", f"must be >= 1 order per second, got {val}")
    ladder = ["max_order_notional", "max_market_exposure", "max_venue_exposure", "max_total_exposure"]
    for small, big in zip(ladder, ladder[1:]):
        a, b = getattr(r, small), getattr(r, big)
        if a is not None and b is not None and a > b:
            raise ConfigError(f"risk.{small}", f"{a} is above risk.{big} {b}")

    x = cfg.execution
    if x.leg_timeout_ms < 1:
        raise ConfigError("execution.leg_timeout_ms", f"must be >= 1, got {x.leg_timeout_ms}")
    if x.chase_seconds < 0:
        raise ConfigError("execution.chase_seconds", f"must be >= 0, got {x.chase_seconds}")
    if x.hedge_policy is HedgePolicy.CHASE and x.chase_seconds <= 0:
        raise ConfigError("execution.chase_seconds", "must be > 0 when hedge_policy is chase")

    for name in cfg.risk.strategies:
        if name not in built_strategies():
            raise ConfigError(f"risk.strategies.{name}", f"no such strategy in this build (available: {', '.join(built_strategies())})")
    for name, budget in cfg.risk.strategies.items():
        if budget.slots is not None and budget.slots < 0:
            raise ConfigError(f"risk.strategies.{name}.slots", f"must be >= 0, got {budget.slots}")
        if budget.max_exposure is not None and budget.max_exposure <= 0:
            raise ConfigError(f"risk.strategies.{name}.max_exposure", f"must be > 0, got {budget.max_exposure}")

    from arbkit.strategies import registry

    for name, table in cfg.strategies.tables.items():
        spec = registry.get(name)
        if spec is not None and spec.validate is not None:
            spec.validate(table, cfg, f"strategies.{name}")


def _validate_cross_venue(cv: "CrossVenueConfig", cfg: "Config", key: str) -> None:
    if cv.min_edge_bps < 0:
        raise ConfigError("strategies.cross_venue.min_edge_bps", f"must be >= 0, got {cv.min_edge_bps}")
    if cv.safety_margin_bps < 0:
        raise ConfigError("strategies.cross_venue.safety_margin_bps", f"must be >= 0, got {cv.safety_margin_bps}")
    if cv.max_size <= 0:
        raise ConfigError("strategies.cross_venue.max_size", f"must be > 0, got {cv.max_size}")
    k = "strategies.cross_venue."
    if cv.first_leg not in ("auto", "polymarket", "kalshi"):
        raise ConfigError(k + "first_leg", f"must be auto, polymarket or kalshi, got {_show(cv.first_leg)}")
    for name in ("leg_timeout_ms", "hedge_timeout_ms", "hedge_max_attempts", "max_silence_polymarket_ms", "max_silence_kalshi_ms"):
        val = getattr(cv, name)
        if val is not None and val < 1:
            raise ConfigError(k + name, f"must be >= 1, got {val}")
    if cv.cooldown_ms < 0:
        raise ConfigError(k + "cooldown_ms", f"must be >= 0, got {cv.cooldown_ms}")
    if cv.hedge_max_slippage_bps is not None and not 0 < cv.hedge_max_slippage_bps <= 10_000:
        raise ConfigError(k + "hedge_max_slippage_bps", f"must be in (0, 10000], got {cv.hedge_max_slippage_bps}")
    if cv.hedge_chase_seconds is not None and cv.hedge_chase_seconds < 0:
        raise ConfigError(k + "hedge_chase_seconds", f"must be >= 0, got {cv.hedge_chase_seconds}")
    eff = cv.effective(cfg.execution)
    if eff["hedge_policy"] == "chase" and eff["hedge_chase_seconds"] <= 0:
        raise ConfigError(k + "hedge_chase_seconds", "must be > 0 when the hedge policy is chase")
    if cv.enabled:
        for venue in ("polymarket", "kalshi"):
            if getattr(cfg.venues, venue) is None:
                raise ConfigError("strategies.cross_venue", f"enabled, but venues.{venue} is not configured")


def _validate_triangular(tri: "TriangularTableConfig", cfg: "Config", key: str) -> None:
    eff = tri.effective(cfg.execution, cfg.risk)
    if eff["hedge_policy"] == "chase" and eff["hedge_chase_seconds"] <= 0:
        raise ConfigError("strategies.triangular.hedge_chase_seconds", "must be > 0 when the hedge policy is chase")
    if tri.enabled and cfg.venues.kucoin is None:
        raise ConfigError("strategies.triangular", "enabled, but venues.kucoin is not configured")


def _check_url(key: str, url: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise ConfigError(key, f"must be a {'|'.join(s + '://' for s in schemes)} URL, got {_show(url)}")
    if parts.scheme in ("ipc", "inproc"):
        if not (parts.netloc or parts.path):
            raise ConfigError(key, f"needs a path, got {_show(url)}")
        return ""
    if not parts.hostname:
        raise ConfigError(key, f"needs a host, got {_show(url)}")
    if parts.scheme == "tcp" and parts.port is None:
        raise ConfigError(key, f"needs a port, got {_show(url)}")
    return parts.hostname


def _resolve_paths(cfg: Config, base: Path) -> Config:
    def fix(p: str) -> str:
        q = Path(p).expanduser()
        return os.path.normpath(q if q.is_absolute() else (base / q))

    node = msgspec.structs.replace(cfg.node, journal_path=fix(cfg.node.journal_path))
    venues = {}
    for name, v in cfg.venues.configured().items():
        changes = {f.name: fix(getattr(v, f.name)) for f in msgspec.structs.fields(v) if f.name.endswith("_file") and getattr(v, f.name)}
        venues[name] = msgspec.structs.replace(v, **changes) if changes else v
    return msgspec.structs.replace(cfg, node=node, venues=msgspec.structs.replace(cfg.venues, **venues))


# --- secrets ---------------------------------------------------------------------------------


def resolve_secret(ref: str | os.PathLike[str], *, env: typing.Mapping[str, str] | None = None) -> str:
    """The secret named by ``ref``: an environment variable name (``POLYMARKET_PRIVATE_KEY``) or
    a key file path (anything with a path separator, or a ``Path``). Whitespace around it is
    stripped. The value is registered for log redaction and never appears in errors."""
    environ = os.environ if env is None else env
    text = os.fspath(ref)
    if isinstance(ref, os.PathLike) or os.sep in text or "/" in text:
        path = Path(text)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ConfigError("", f"key file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("", f"key file {path} cannot be read: {type(exc).__name__}") from None
        if not value:
            raise ConfigError("", f"key file {path} is empty")
    else:
        if not _ENV_NAME_RE.match(text):
            raise ConfigError("", "a secret reference must be an environment variable NAME or a key file path (value not shown)")
        raw = environ.get(text)
        if raw is None or not raw.strip():
            raise ConfigError("", f"environment variable {text} is not set")
        value = raw.strip()
    register_secret(value)
    return value

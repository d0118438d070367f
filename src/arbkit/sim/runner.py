"""Run the simulator: engines per venue, the scenario, the venue protocol servers, the admin
endpoint, test accounts; write the info document; shut down cleanly.

Venue servers are registered by name in ``VENUE_SERVERS`` ("module:Class") and imported lazily,
so the runner works with whatever servers exist (``--venues none`` runs engines + admin only).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import logging
import os
import shutil
import signal
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from arbkit.core.clock import NS, Clock, LiveClock, SimClock
from arbkit.sim.engine import MatchingEngine, SettlementConfig, StpMode
from arbkit.sim.faults import FaultPlan
from arbkit.sim.scenario import ReplayFeed, Scenario, ScenarioMarket, load_scenario

log = logging.getLogger(__name__)

VENUE_SERVERS: dict[str, str] = {
    "polymarket": "arbkit.sim.polymarket.server:PolymarketServer",
    "kalshi": "arbkit.sim.kalshi.server:KalshiServer",
    "kucoin": "arbkit.sim.kucoin.server:KucoinServer",  # spot: its own engine (arbkit.sim.kucoin.spot)
}
KNOWN_VENUES = ("polymarket", "kalshi", "kucoin")
# Venue fee hooks (see MatchingEngine.fee_fn): Kalshi rounds fees per order, not per fill.
# A class is instantiated once per engine, so per-order fee state never leaks between engines.
VENUE_FEE_FNS: dict[str, str] = {"kalshi": "arbkit.sim.kalshi.fees:KalshiFeeModel"}
POLYGON_CHAIN_ID = 137
ENGINE_TICK_S = 0.05
STOP_TIMEOUT_S = 5.0  # how often (clock time) settlement and GTD expiry are moved on


@dataclass
class TestAccount:
    """A generated, funded account the info document hands to clients.

    Polymarket: ``private_key`` ("0x" + 64 hex) and checksummed ``address``; ``account_id`` is the
    lower-case address (the maker/funder of signed orders). Kalshi: ``key_id`` (uuid),
    ``private_key_path`` (PEM, mode 0600), ``public_key_pem``; ``account_id`` is the key id.
    """

    account_id: str
    venue: str
    private_key: str = ""
    address: str = ""
    key_id: str = ""
    private_key_path: str = ""
    public_key_pem: str = ""
    api_key: str = ""  # KuCoin: API key (also the account id), secret and passphrase
    api_secret: str = ""
    passphrase: str = ""

    __test__ = False  # not a pytest test class

    def info(self) -> dict[str, str]:
        if self.venue == "polymarket":
            return {"private_key": self.private_key, "address": self.address}
        if self.venue == "kucoin":
            return {"api_key": self.api_key, "api_secret": self.api_secret, "passphrase": self.passphrase}
        return {"key_id": self.key_id, "private_key_path": self.private_key_path}


@dataclass
class VenueContext:
    """What the runner gives a venue server."""

    venue: str
    engine: MatchingEngine
    clock: Clock
    faults: FaultPlan
    scenario: Scenario
    markets: list[ScenarioMarket]
    accounts: list[TestAccount]
    replay: ReplayFeed | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class VenueServer(Protocol):
    def __init__(self, ctx: VenueContext) -> None: ...

    async def start(self, host: str) -> None: ...

    def info(self) -> dict[str, Any]: ...

    async def stop(self) -> None: ...


def load_server_class(venue: str) -> type:
    """The server class registered for ``venue``; ImportError naming what is missing."""
    ref = VENUE_SERVERS.get(venue)
    if ref is None:
        raise ValueError(f"unknown venue {venue!r}: known {sorted(VENUE_SERVERS)}")
    module, _, attr = ref.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ImportError(f"the {venue} venue server ({module}) is not available in this build: {exc}") from exc
    return getattr(mod, attr)


# --- keys --------------------------------------------------------------------------------------


def _keccak256(data: bytes) -> bytes:
    from Crypto.Hash import keccak

    return keccak.new(digest_bits=256, data=data).digest()


def eth_checksum_address(addr_hex: str) -> str:
    """EIP-55 mixed-case checksum of a 40-hex-digit address."""
    a = addr_hex.lower().removeprefix("0x")
    h = _keccak256(a.encode()).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and int(h[i], 16) >= 8 else c for i, c in enumerate(a))


def eth_address_from_private_key(private_key: bytes) -> str:
    import coincurve

    pub = coincurve.PrivateKey(private_key).public_key.format(compressed=False)[1:]
    return eth_checksum_address(_keccak256(pub)[-20:].hex())


def make_polymarket_account(seed: int, index: int) -> TestAccount:
    """A deterministic test key per (seed, index): same seed, same addresses, same streams."""
    n = 0
    while True:
        pk = hashlib.sha256(f"arbkit-sim-polymarket:{seed}:{index}:{n}".encode()).digest()
        k = int.from_bytes(pk, "big")
        # secp256k1 order: a valid key is in [1, n-1]
        if 0 < k < 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141:
            break
        n += 1
    address = eth_address_from_private_key(pk)
    return TestAccount(account_id=address.lower(), venue="polymarket", private_key="0x" + pk.hex(), address=address)


def make_kalshi_account(seed: int, index: int, key_dir: Path) -> TestAccount:
    """A fresh RSA-2048 key written as PKCS#8 PEM with mode 0600; the key id is deterministic."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_id = str(uuid.UUID(bytes=hashlib.sha256(f"arbkit-sim-kalshi:{seed}:{index}".encode()).digest()[:16], version=4))
    path = key_dir / f"kalshi-{index}.pem"
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(path, 0o600)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return TestAccount(account_id=key_id, venue="kalshi", key_id=key_id, private_key_path=str(path), public_key_pem=pub)


def make_kucoin_account(seed: int, index: int) -> TestAccount:
    """A deterministic KuCoin API key (24 hex, like KuCoin's), secret (uuid) and passphrase."""
    h = hashlib.sha256(f"arbkit-sim-kucoin:{seed}:{index}".encode()).hexdigest()
    key = h[:24]
    secret = str(uuid.UUID(h[24:56]))
    return TestAccount(account_id=key, venue="kucoin", api_key=key, api_secret=secret, passphrase=f"sim-pass-{index}")


# --- engines -------------------------------------------------------------------------------------


def make_engine(venue: str, clock: Clock, faults: FaultPlan, scenario: Scenario | None = None) -> MatchingEngine:
    """The engine of one venue with that venue's settlement and self-trade rules."""
    if venue == "kucoin":  # spot pairs and per-currency accounts: the spot engine
        from arbkit.sim.kucoin.spot import SpotEngine

        return SpotEngine(venue, clock, faults)  # type: ignore[return-value]
    if venue == "polymarket":
        return MatchingEngine(
            venue,
            clock,
            stp=StpMode.CANCEL_RESTING,
            settlement=SettlementConfig(instant=False),
            faults=faults,
            order_id_style="hex",
        )
    return MatchingEngine(
        venue,
        clock,
        stp=StpMode.CANCEL_RESTING,
        settlement=SettlementConfig(instant=True),
        faults=faults,
        order_id_style="uuid",
        auto_net=True,  # Kalshi positions are one signed number: YES+NO pairs are redeemed at once
        fee_fn=_load_fee_fn(venue),
    )


def _load_fee_fn(venue: str):
    """The venue's fee hook when its module is in this build, else None (core formula per fill)."""
    ref = VENUE_FEE_FNS.get(venue)
    if ref is None:
        return None
    module, _, attr = ref.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise
    obj = getattr(mod, attr, None)
    return obj() if isinstance(obj, type) else obj


def market_info(m: ScenarioMarket) -> dict[str, Any]:
    """One market in the info document, in the issue's shape for the venue."""
    if m.venue == "polymarket":
        return {
            "condition_id": m.market_id,
            "question": m.title,
            "neg_risk": m.neg_risk,
            "tick_size": str(m.tick_size),
            "tokens": [
                {"token_id": m.yes_symbol, "outcome": "Yes"},
                {"token_id": m.no_symbol, "outcome": "No"},
            ],
            "event_id": m.event_key,
        }
    return {"ticker": m.market_id, "title": m.title, "event_ticker": m.venue_meta.get("event_ticker", "")}


# --- runner ---------------------------------------------------------------------------------------


class SimRunner:
    """Everything a ``arbkit sim`` process runs, start to stop."""

    def __init__(
        self,
        *,
        venues: list[str],
        scenario: str = "demo",
        seed: int = 1,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        admin_port: int = 0,
        accounts_per_venue: int | None = None,
        ports: dict[str, int] | None = None,
    ) -> None:
        if host != "127.0.0.1":
            raise ValueError("the simulator serves on 127.0.0.1 only")
        for v in venues:
            if v not in KNOWN_VENUES:
                raise ValueError(f"unknown venue {v!r}: choose from {', '.join(KNOWN_VENUES)} (or 'none')")
        self.venues = venues
        self.seed = seed
        self.clock: Clock = clock or LiveClock()
        self.host = host
        self.ports = dict(ports or {})  # venue (or "admin") -> fixed port; unset: an ephemeral port
        unknown = sorted(set(self.ports) - set(KNOWN_VENUES) - {"admin"})
        if unknown:
            raise ValueError(f"--ports names unknown venue(s) {', '.join(unknown)}: choose from {', '.join(KNOWN_VENUES)}, admin")
        self.admin_port = self.ports.get("admin", admin_port)
        self.scenario = load_scenario(scenario, seed)
        self.faults = FaultPlan(self.clock, self.scenario.faults)
        self.engines: dict[str, MatchingEngine] = {}
        engine_venues = sorted(set(self.scenario.venues) | set(venues))
        for v in engine_venues:
            self.engines[v] = make_engine(v, self.clock, self.faults, self.scenario)
        self.scenario.build(self.engines, self.clock)
        self.accounts_per_venue = accounts_per_venue if accounts_per_venue is not None else self.scenario.test_accounts
        self.accounts: dict[str, list[TestAccount]] = {}
        self.servers: dict[str, Any] = {}
        self.admin: Any = None
        self.stop_event = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._key_dir: Path | None = None
        self._info: dict[str, Any] = {}
        self.scenario_name = scenario

    @property
    def simulated_clock(self) -> bool:
        return isinstance(self.clock, SimClock)

    def _make_accounts(self) -> None:
        for v in self.venues:
            accts: list[TestAccount] = []
            for i in range(self.accounts_per_venue):
                if v == "polymarket":
                    accts.append(make_polymarket_account(self.seed, i))
                elif v == "kucoin":
                    accts.append(make_kucoin_account(self.seed, i))
                else:
                    if self._key_dir is None:
                        self._key_dir = Path(tempfile.mkdtemp(prefix="arbkit-sim-keys-"))
                        os.chmod(self._key_dir, 0o700)
                    accts.append(make_kalshi_account(self.seed, i, self._key_dir))
            eng = self.engines[v]
            currency = self.scenario.currency(v)
            for a in accts:
                eng.accounts.create(a.account_id, {currency: self.scenario.funding})
            self.accounts[v] = accts

    async def start(self) -> dict[str, Any]:
        """Start serving; returns the info document."""
        from arbkit.sim.admin import AdminServer

        self._make_accounts()
        self.faults.start()
        replay = self.scenario.replay
        for v in self.venues:
            cls = load_server_class(v)
            ctx = VenueContext(
                venue=v,
                engine=self.engines[v],
                clock=self.clock,
                faults=self.faults,
                scenario=self.scenario,
                markets=[m for m in self.scenario.catalogue.markets if m.venue == v],
                accounts=self.accounts[v],
                replay=replay,
                extra={"port": self.ports[v]} if v in self.ports else {},
            )
            server = cls(ctx)
            await server.start(self.host)
            self.servers[v] = server
        self.admin = AdminServer(self)
        await self.admin.start(self.host, self.admin_port)
        self._tasks.append(asyncio.create_task(self._engine_ticks(), name="sim-engine-ticks"))
        self._tasks.append(asyncio.create_task(self.scenario.run(self.stop_event), name="sim-scenario"))
        self._info = self.info()
        return self._info

    def info(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for v in self.venues:
            sec = dict(self.servers[v].info()) if v in self.servers else {}
            if v == "polymarket":
                sec.setdefault("chain_id", POLYGON_CHAIN_ID)
            sec.setdefault("accounts", [a.info() for a in self.accounts.get(v, [])])
            sec.setdefault("markets", [market_info(m) for m in self.scenario.catalogue.markets if m.venue == v])
            doc[v] = sec
        doc["admin_url"] = self.admin.url if self.admin is not None else ""
        doc["scenario"] = self.scenario_name
        doc["seed"] = self.seed
        doc["clock"] = "sim" if self.simulated_clock else "live"
        doc["pid"] = os.getpid()
        return doc

    async def _engine_ticks(self) -> None:
        while not self.stop_event.is_set():
            for eng in self.engines.values():
                eng.on_time()
            await self.clock.sleep(ENGINE_TICK_S)

    async def advance(self, seconds: float) -> int:
        """Advance a simulated clock by ``seconds``, letting every sleeper due run; returns now_ns."""
        if not isinstance(self.clock, SimClock):
            raise RuntimeError("the clock is live: time cannot be advanced")
        await self.clock.run_until_idle(max_ns=int(seconds * NS))
        for eng in self.engines.values():
            eng.on_time()
        await asyncio.sleep(0)
        return self.clock.now_ns()

    def request_stop(self) -> None:
        self.stop_event.set()

    async def stop(self) -> None:
        self.stop_event.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: PERF203 - shutting down
                pass
        self._tasks.clear()
        for v, server in list(self.servers.items()):
            try:
                await asyncio.wait_for(server.stop(), timeout=STOP_TIMEOUT_S)
            except asyncio.TimeoutError:
                log.error("the %s server did not stop within %s s", v, STOP_TIMEOUT_S)
            except Exception:
                log.exception("stopping the %s server failed", v)
        self.servers.clear()
        if self.admin is not None:
            await self.admin.stop()
            self.admin = None
        if self._key_dir is not None:
            shutil.rmtree(self._key_dir, ignore_errors=True)
            self._key_dir = None


def write_info_file(path: Path, info: dict[str, Any]) -> None:
    """Atomically write the info document (readers never see a half-written file). It holds test
    private keys, so it is written with mode 0600."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


ENV_PREFIX = "SIM_"


def env_assignments(info: dict[str, Any], prefix: str = ENV_PREFIX) -> dict[str, str]:
    """The first test account of each venue as the environment variables ``examples/sim.toml``
    names (``SIM_POLYMARKET_PRIVATE_KEY``, ``SIM_KALSHI_API_KEY_ID``, ``SIM_KALSHI_PRIVATE_KEY``
    holding the PEM file's path, ``SIM_KUCOIN_API_KEY|API_SECRET|API_PASSPHRASE``)."""
    out: dict[str, str] = {}
    for venue in KNOWN_VENUES:
        accts = (info.get(venue) or {}).get("accounts") or []
        if not accts:
            continue
        a = accts[0]
        if venue == "polymarket":
            out[f"{prefix}POLYMARKET_PRIVATE_KEY"] = a["private_key"]
        elif venue == "kalshi":
            out[f"{prefix}KALSHI_API_KEY_ID"] = a["key_id"]
            out[f"{prefix}KALSHI_PRIVATE_KEY"] = a["private_key_path"]
        else:
            out[f"{prefix}KUCOIN_API_KEY"] = a["api_key"]
            out[f"{prefix}KUCOIN_API_SECRET"] = a["api_secret"]
            out[f"{prefix}KUCOIN_API_PASSPHRASE"] = a["passphrase"]
    return out


def write_env_file(path: Path, info: dict[str, Any], prefix: str = ENV_PREFIX) -> None:
    """``export NAME='value'`` lines (POSIX shell: ``. FILE``) for the test accounts, mode 0600
    (test keys, but keys). Values are single-quoted; none of them holds a quote."""
    lines = ["# Written by `arbkit sim`: test accounts of the running simulator. Load with:  . THIS_FILE"]
    for k, v in env_assignments(info, prefix).items():
        if "'" in v:
            raise ValueError(f"{k}: a test account value holds a quote")
        lines.append(f"export {k}='{v}'")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def parse_ports(text: str) -> dict[str, int]:
    """``polymarket=18101,kalshi=18102,admin=18100`` -> {venue: port}; ValueError naming the part."""
    out: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, num = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in (*KNOWN_VENUES, "admin"):
            raise ValueError(f"{part!r}: expected VENUE=PORT with VENUE one of {', '.join(KNOWN_VENUES)}, admin")
        try:
            port = int(num)
        except ValueError:
            raise ValueError(f"{part!r}: the port must be an integer") from None
        if not 1 <= port <= 65535:
            raise ValueError(f"{part!r}: the port must be 1..65535")
        if name in out:
            raise ValueError(f"{name}: given twice")
        out[name] = port
    dup = [p for p in set(out.values()) if list(out.values()).count(p) > 1]
    if dup:
        raise ValueError(f"port {dup[0]} is given to two servers")
    return out


async def serve(
    *,
    venues: list[str],
    scenario: str,
    seed: int,
    info_file: Path | None = None,
    duration_s: float | None = None,
    simulated_clock: bool = False,
    admin_port: int = 0,
    print_info=print,
    ports: dict[str, int] | None = None,
    env_file: Path | None = None,
) -> int:
    """Run until SIGINT/SIGTERM, admin shutdown or ``duration_s`` wall seconds; returns 0."""
    clock: Clock = SimClock() if simulated_clock else LiveClock()
    runner = SimRunner(venues=venues, scenario=scenario, seed=seed, clock=clock, admin_port=admin_port, ports=ports)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, runner.request_stop)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-POSIX
            pass
    try:
        info = await runner.start()
        if info_file is not None:
            write_info_file(info_file, info)
        if env_file is not None:
            write_env_file(env_file, info)
        print_info(json.dumps(info))
        if duration_s is not None:  # wall seconds (a simulated clock does not move on its own)
            try:
                await asyncio.wait_for(runner.stop_event.wait(), timeout=duration_s)
            except asyncio.TimeoutError:
                pass
        else:
            await runner.stop_event.wait()
    finally:
        await runner.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover
                pass
    return 0

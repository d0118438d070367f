"""``arbkit orders``: the operator's hand on the venues, through the node's own gateways.

    arbkit orders place     --venue kalshi --config FILE --market T --outcome yes --side buy --price 0.45 --quantity 10
    arbkit orders cancel    --venue polymarket --config FILE ID        (client or venue order id)
    arbkit orders cancel    --venue polymarket --config FILE --all
    arbkit orders list      --venue kalshi --config FILE               (open orders)
    arbkit orders fills     --venue kalshi --config FILE [--since 24h]
    arbkit orders positions --venue polymarket --config FILE [--market M ...]
    arbkit orders balance   --venue kalshi --config FILE

Each command builds the venue's gateway with :mod:`arbkit.runtime.wiring` exactly as the node
does (mode ``sim`` or ``live``; ``paper`` sends nothing, so it is refused), credentials from the
environment or key files named in the configuration. ``--info-file PATH`` targets a running
``arbkit sim ... --info-file PATH``: the venue's URLs and a test account (``--account N``) come
from the info document, which is the simulator's key file (mode 0600); the configuration then only
names the journal (or ``--journal PATH`` without a configuration).

Orders are checked before anything is sent, with the venue's own metadata: the price on the
market's tick grid (Kalshi: its price level structure), the quantity a multiple of the size
increment and at least the minimum, and the notional within ``risk.max_order_notional`` when
set. Nothing is rounded: an off-grid price or size is refused with the problem named. The
gateway checks again (it is the same code the node sends with).

Journal: ``place`` appends ``OrderSubmitted`` (correlation id ``op-...``) and waits until it is
durable before the order is sent, then the venue's answer (``OrderAccepted`` / ``OrderRejected``,
an IOC remainder's ``OrderCanceled``) and the order's fills seen right after (``OrderFilled``),
all under that correlation id -- so ``arbkit journal tail`` / ``show`` and ``arbkit report`` see
them. ``cancel`` appends ``OrderCancelRequested`` (defined here) before the request, then
``OrderCanceled`` / ``OrderCancelRejected``. The journal has one writer: while a node runs on the
same journal the command refuses (use the node's control channel, or stop it).

Live venues: ``place`` and ``cancel`` need ``--live``; what will be sent is printed first and
confirmed on the terminal unless ``--yes``; without a terminal and without ``--yes`` the command
refuses. Reads (``list``, ``fills``, ``positions``, ``balance``) only read.

Output is a table, or JSON with ``--json``. Every error is one line on stderr and exit code 2;
a venue's refusal of an order or a cancel is an error too (after it is journaled).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import Any, Mapping, Optional

import msgspec
import typer

from arbkit.core.enums import OrderType, Side, TimeInForce, Venue
from arbkit.core.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
)

log = logging.getLogger("arbkit.orders")

app = typer.Typer(
    name="orders",
    help="Place, cancel and inspect orders by hand through the node's gateways (sim or live), journaled.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SIM_POLY_KEY_ENV = "ARBKIT_SIM_POLYMARKET_PRIVATE_KEY"
SIM_KALSHI_KEY_ID_ENV = "ARBKIT_SIM_KALSHI_API_KEY_ID"
# Polymarket GTD: "GTD orders expire one minute before their stated expiration as a security threshold.
# To set an effective lifetime of N seconds, use now + 60 + N. In addition, the expiration must be at
# least 3 minutes in the future" (https://docs.polymarket.com/trading/place-orders, checked 2026-12-04).
# The gateway puts OrderRequest.expire_at_ns on the wire as it is, so --expires (when the order stops
# resting) is sent 60 s later. Kalshi's expiration_ts is the expiry itself.
POLYMARKET_GTD_SECURITY_S = 60
POLYMARKET_GTD_MIN_AHEAD_S = 180
MAX_CLIENT_ORDER_ID = 64  # the shorter venue limit (Kalshi's client_order_id)
_COID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class OrderCancelRequested(Event, frozen=True, kw_only=True):
    """An operator's cancel request, journaled (and flushed) before it is sent.
    ``client_order_id`` is ``"*"`` for cancel-all."""

    venue: Venue
    client_order_id: str
    venue_order_id: str = ""
    cancel_all: bool = False
    source: str = "arbkit orders"


class OrdersError(Exception):
    """A refusal or failure the operator must read: one line, exit code 2."""


class VenueName(str, Enum):
    polymarket = "polymarket"
    kalshi = "kalshi"


class SideName(str, Enum):
    buy = "buy"
    sell = "sell"


class OutcomeName(str, Enum):
    yes = "yes"
    no = "no"


class TifName(str, Enum):
    gtc = "gtc"
    ioc = "ioc"
    fok = "fok"
    gtd = "gtd"


# --- target: which venue, how configured, which journal ----------------------------------------


@dataclass
class Target:
    venue: Venue
    vcfg: Any  # PolymarketConfig | KalshiConfig
    env: Mapping[str, str]
    journal_path: Path | None
    max_order_notional: Decimal | None = None
    source: str = ""  # where the venue's settings came from (for messages)
    info_markets: list[dict[str, Any]] = field(default_factory=list)
    sim_admin_url: str = ""  # with --info-file: the simulator's admin endpoint (is it still up?)

    @property
    def live(self) -> bool:
        from arbkit.runtime.config import VenueMode

        return self.vcfg.mode is VenueMode.LIVE


def _read_info(info_file: Path, venue: Venue, account: int) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OrdersError(f"--info-file {info_file}: no such file (start the simulator with `arbkit sim --info-file PATH`)") from None
    except (OSError, ValueError) as exc:
        raise OrdersError(f"--info-file {info_file}: unreadable: {type(exc).__name__}") from None
    sec = info.get(venue.value) if isinstance(info, dict) else None
    if isinstance(sec, dict):
        sec = {**sec, "_admin_url": info.get("admin_url", "")}
    if not isinstance(sec, dict) or not sec.get("rest_url"):
        raise OrdersError(f"--info-file {info_file}: the simulator there does not serve {venue.value}")
    accounts = sec.get("accounts") or []
    if not 0 <= account < len(accounts):
        raise OrdersError(f"--account {account}: the simulator has {len(accounts)} {venue.value} test account(s)")
    return sec, accounts[account]


def resolve_target(venue: VenueName, config: Path | None, info_file: Path | None, account: int,
                   journal: Path | None, env: Mapping[str, str] | None = None) -> Target:
    """The venue configuration to build the gateway from, the secrets' environment and the journal."""
    from arbkit.runtime.config import ConfigError, KalshiConfig, PolymarketConfig, VenueMode, load_config

    v = Venue(venue.value)
    environ: dict[str, str] = dict(os.environ if env is None else env)
    if config is None and info_file is None:
        raise OrdersError("give --config FILE (and/or --info-file PATH of a running `arbkit sim`)")
    cfg = None
    if config is not None:
        try:
            cfg = load_config(config)
        except ConfigError as exc:
            raise OrdersError(f"{config}: {exc}") from None
        if journal is not None:
            raise OrdersError("--journal is only for use without --config: orders go to the journal the configuration names")
    vcfg = getattr(cfg.venues, v.value) if cfg is not None else None
    source = f"{config} [venues.{v.value}]" if vcfg is not None else ""
    info_markets: list[dict[str, Any]] = []
    admin_url = ""
    if info_file is not None:
        if vcfg is not None and vcfg.mode is not VenueMode.SIM:
            raise OrdersError(f"--info-file targets the simulator, but venues.{v.value} in {config} is in mode "
                              f"{vcfg.mode.value}")
        sec, acct = _read_info(info_file, v, account)
        info_markets = list(sec.get("markets") or [])
        admin_url = str(sec.get("_admin_url") or "")
        if v is Venue.POLYMARKET:
            if not acct.get("private_key"):
                raise OrdersError(f"--info-file {info_file}: polymarket account {account} has no private key")
            environ[SIM_POLY_KEY_ENV] = acct["private_key"]
            # an account that signs for a wallet (proxy, safe, deposit wallet) says so in the info document
            extra: dict[str, Any] = {}
            if acct.get("signature_type") is not None:
                extra["signature_type"] = int(acct["signature_type"])
            if acct.get("funder") or acct.get("deposit_wallet"):
                extra["funder"] = acct.get("funder") or acct.get("deposit_wallet")
            vcfg = PolymarketConfig(mode=VenueMode.SIM, rest_url=sec["rest_url"],
                                    ws_market_url=sec.get("ws_market_url", "ws://127.0.0.1:1/ws/market"),
                                    ws_user_url=sec.get("ws_user_url", "ws://127.0.0.1:1/ws/user"),
                                    chain_id=int(sec.get("chain_id", 137)), private_key_env=SIM_POLY_KEY_ENV, **extra)
        else:
            if not acct.get("key_id") or not acct.get("private_key_path"):
                raise OrdersError(f"--info-file {info_file}: kalshi account {account} has no key")
            environ[SIM_KALSHI_KEY_ID_ENV] = acct["key_id"]
            vcfg = KalshiConfig(mode=VenueMode.SIM, rest_url=sec["rest_url"], ws_url=sec.get("ws_url", "ws://127.0.0.1:1/"),
                                api_key_id_env=SIM_KALSHI_KEY_ID_ENV, private_key_file=str(acct["private_key_path"]))
        source = f"simulator {info_file} (account {account})"
    if vcfg is None:
        raise OrdersError(f"{config} configures no venues.{v.value} (and no --info-file was given)")
    if vcfg.mode is VenueMode.PAPER:
        raise OrdersError(f"venues.{v.value} in {config} is in mode paper: paper trading sends no orders to a venue; "
                          "use a sim or live configuration (or --info-file of a running simulator)")
    jpath = Path(cfg.node.journal_path) if cfg is not None else (journal.resolve() if journal is not None else None)
    return Target(venue=v, vcfg=vcfg, env=environ, journal_path=jpath,
                  max_order_notional=cfg.risk.max_order_notional if cfg is not None else None,
                  source=source, info_markets=info_markets, sim_admin_url=admin_url)


# --- the gateway session ------------------------------------------------------------------------


class VenueSession:
    """The venue's bundle built by :mod:`arbkit.runtime.wiring` (as the node builds it) and started;
    only its gateway is used: the feed and user stream are never run."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.bundle: Any = None
        self.http: Any = None

    @property
    def gateway(self) -> Any:
        return self.bundle.gateway

    async def __aenter__(self) -> "VenueSession":
        import aiohttp

        from arbkit.core.clock import LiveClock
        from arbkit.execution.paper import SnapshotRegistry
        from arbkit.runtime import wiring
        from arbkit.runtime.config import ConfigError

        t = self.target
        clock = LiveClock()
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        if t.sim_admin_url:
            try:
                async with self.http.get(t.sim_admin_url + "/health", timeout=aiohttp.ClientTimeout(total=3)) as r:
                    up = r.status == 200
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                up = False
            if not up:
                await self.http.close()
                raise OrdersError(f"{t.source}: the simulator is not running (its admin endpoint {t.sim_admin_url} "
                                  "does not answer); start it again with `arbkit sim --info-file PATH`")
        try:
            if t.venue is Venue.POLYMARKET:
                self.bundle = await wiring.build_polymarket(t.vcfg, clock=clock, market_sink=lambda _e: None, env=t.env,
                                                            snapshots=SnapshotRegistry())
            else:
                self.bundle = await wiring.build_kalshi(t.vcfg, clock=clock, market_sink=lambda _e: None, env=t.env,
                                                        snapshots=SnapshotRegistry())
        except ConfigError as exc:
            await self.http.close()
            raise OrdersError(f"{t.source}: {exc}") from None
        except BaseException:
            await self.http.close()
            raise
        if self.bundle.gateway is None:
            await self.http.close()
            raise OrdersError(f"{t.source}: no order gateway for mode {t.vcfg.mode.value}")
        try:
            if t.venue is Venue.POLYMARKET:
                await wiring.start_polymarket(self.bundle)
            else:
                await wiring.start_kalshi(self.bundle)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.bundle is not None and self.bundle.gateway is not None:
            with contextlib.suppress(Exception):
                await self.bundle.gateway.close()
        if self.http is not None:
            with contextlib.suppress(Exception):
                await self.http.close()

    # --- instruments ---------------------------------------------------------------------------

    async def instrument(self, market: str, outcome: OutcomeName) -> Any:
        """The outcome's instrument with the venue's tick size, size increment and minimum."""
        from arbkit.runtime import wiring

        try:
            if self.target.venue is Venue.KALSHI:
                ticker = market.rsplit(":", 1)[0] if market.lower().endswith((":yes", ":no")) else market
                yes, no = await wiring.kalshi_instruments(self.bundle, ticker)
            else:
                yes, no = await self._polymarket_pair(market)
        except OrdersError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to read the market is the operator's answer
            raise OrdersError(f"cannot read {self.target.venue.value} market {market!r}: {_why(exc)}") from None
        if self.target.venue is Venue.POLYMARKET and not market.startswith("0x") and market not in (yes.symbol, no.symbol):
            raise OrdersError(f"{market!r} is not a token of market {yes.market_id}")
        if self.target.venue is Venue.POLYMARKET and market in (yes.symbol, no.symbol):
            named = yes if market == yes.symbol else no
            if named.outcome.lower() != outcome.value:
                raise OrdersError(f"token {market} is the {named.outcome} outcome, not {outcome.value.upper()}: "
                                  f"give the market's condition id, or the {outcome.value.upper()} token")
        return yes if outcome is OutcomeName.yes else no

    async def _polymarket_pair(self, market: str) -> tuple[Any, Any]:
        from arbkit.runtime import wiring
        from arbkit.venues.polymarket import constants as PC
        from arbkit.venues.polymarket.parse import ClobMarketInfo

        gw = self.gateway
        condition_id = market
        if not market.startswith("0x"):  # a token id: ask which market it belongs to
            condition_id = (await gw.metadata.get(market)).condition_id
            if not condition_id:
                raise OrdersError(f"the venue does not say which market token {market} belongs to; give the condition id")
        rest = self.bundle.rest_url.rstrip("/")
        async with self.http.get(rest + PC.PATH_CLOB_MARKET + condition_id) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise OrdersError(f"polymarket market {condition_id}: HTTP {resp.status} {body[:200].decode('utf-8', 'replace')}")
        info = msgspec.json.decode(body, type=ClobMarketInfo)
        tokens = [t for t in info.t if t is not None]
        if len(tokens) != 2:
            raise OrdersError(f"polymarket market {condition_id} has {len(tokens)} tokens: only binary markets are supported")
        labels = [t.o.strip().lower() for t in tokens]
        if sorted(labels) == ["no", "yes"]:
            yes_t = tokens[labels.index("yes")].t
            no_t = tokens[labels.index("no")].t
        else:  # named outcomes: the first is the YES side of the binary market (the venue's order)
            yes_t, no_t = tokens[0].t, tokens[1].t
        pair = await wiring.polymarket_instruments(self.http, rest, condition_id, yes_t, no_t)
        # warm the gateway's metadata (the order then needs no second lookup) and its token set
        with contextlib.suppress(Exception):
            await gw.metadata.get(pair[0].symbol, condition_id, pair[0])
        return pair

    async def order_problem(self, inst: Any, price: Decimal, qty: Decimal) -> str | None:
        """Why the venue would refuse this order (the instrument's grid, increment and minimum;
        Kalshi: the market's price level structure), or None."""
        problem = inst.check_order(price, qty)
        if problem:
            return (f"{problem} ({inst.id}: tick {_dec(inst.tick_size)}, size increment {_dec(inst.size_increment)}, "
                    f"minimum {_dec(inst.min_size)})")
        if self.target.venue is Venue.KALSHI and inst.market_id:
            meta = self.gateway.cached_market(inst.market_id) if hasattr(self.gateway, "cached_market") else None
            if meta is not None:
                for check in ("price_problem", "count_problem"):
                    fn = getattr(meta, check, None)
                    p = fn(price if check == "price_problem" else qty) if fn is not None else None
                    if p:
                        return p
        return None


# --- helpers -------------------------------------------------------------------------------------


def _why(exc: BaseException) -> str:
    from arbkit.runtime.logging import redact

    text = str(exc) or type(exc).__name__
    if type(exc).__name__ not in text and not isinstance(exc, OrdersError):
        text = f"{type(exc).__name__}: {text}"
    return str(redact(text))


def _decimal(name: str, text: str) -> Decimal:
    try:
        d = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise OrdersError(f"--{name} {text!r} is not a number") from None
    if not d.is_finite():
        raise OrdersError(f"--{name} {text!r} is not a finite number")
    return d


_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")


def _time_ns(name: str, text: str, *, past: bool) -> int:
    """A duration (``90s``, ``15m``, ``24h``, ``7d``: before now when ``past``, else after now), an
    ISO 8601 time, or seconds since the epoch -> ns since the epoch."""
    text = text.strip()
    now = time.time_ns()
    m = _DURATION_RE.match(text)
    if m:
        secs = Decimal(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
        delta = int(secs * 1_000_000_000)
        return now - delta if past else now + delta
    if re.fullmatch(r"\d+", text):
        return int(text) * 1_000_000_000
    try:
        dt = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise OrdersError(f"--{name} {text!r}: give a duration (30s, 15m, 24h, 7d), an ISO time or epoch seconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.timezone.utc)
    return int(dt.timestamp() * 1_000_000_000)


def _ts(ns: int) -> str:
    if not ns:
        return "-"
    return _dt.datetime.fromtimestamp(ns / 1e9, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _dec(d: Decimal | None) -> str:
    if d is None:
        return "-"
    if d == 0:
        return "0"
    return format(d.normalize(), "f")


def new_client_order_id() -> str:
    from arbkit.core.ids import new_correlation_id

    return new_correlation_id("op")


def _with_corr(ev: Event, corr: str) -> Event:
    return ev if ev.correlation_id else msgspec.structs.replace(ev, correlation_id=corr)


_json_encoder = msgspec.json.Encoder(decimal_format="string")


def _emit_json(obj: Any) -> None:
    typer.echo(_json_encoder.encode(obj).decode())


def _table(title: str, columns: list[str], rows: list[list[str]], header: bool = True) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=header)
    for c in columns:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*r)
    # a terminal sets its own width; piped output gets room for the long venue ids
    Console(width=None if sys.stdout.isatty() else 240).print(table)


def _event_row(ev: Event) -> dict[str, Any]:
    return msgspec.to_builtins(ev)  # tagged: "type" is the event's kind


# --- the journal ---------------------------------------------------------------------------------


def _need_journal(target: Target) -> None:
    if target.journal_path is None:
        raise OrdersError("orders are journaled: give --config FILE (its node.journal_path), or --journal PATH "
                          "with --info-file")


class OrderJournal:
    """The configured journal, opened for writing for one command (the journal has one writer)."""

    def __init__(self, path: Path | None) -> None:
        if path is None:
            raise OrdersError("orders are journaled: give --config FILE (its node.journal_path), or --journal PATH "
                              "with --info-file")
        from arbkit.journal.store import Journal, JournalError

        try:
            self.journal = Journal.open(path)
        except JournalError as exc:
            if "already open for writing" in str(exc):
                raise OrdersError(f"journal {path} is in use by a running node (its writer lock is held): orders must go "
                                  "through that journal, so stop the node first, or steer it with `arbkit pause` / "
                                  "`arbkit cancel`") from None
            raise OrdersError(f"journal {path}: {exc}") from None
        self.path = path

    def append(self, ev: Event) -> None:
        self.journal.append_event(ev)

    async def flush(self) -> None:
        from arbkit.journal.store import JournalError

        try:
            await self.journal.flush()
        except JournalError as exc:
            raise OrdersError(f"journal {self.path}: {exc}") from None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.journal.flush()
        with contextlib.suppress(Exception):
            await self.journal.close()

    def _scan(self, kind: str, needle: str) -> Any:
        """Records of ``kind`` whose payload mentions ``needle`` (a byte search first: the node's
        own records are many, the operator's few)."""
        raw = needle.encode()
        for rec, _ok in self.journal.scan(0, kinds=[kind]):
            if raw in rec.payload or raw.lower() in rec.payload:
                yield rec

    def submitted(self, venue: Venue, client_order_id: str) -> bool:
        """Whether an order with this client order id was already journaled as sent on this venue."""
        for kind, type_ in (("OrderSubmitted", OrderSubmitted), ("OrderAccepted", OrderAccepted)):
            for rec in self._scan(kind, client_order_id):
                try:
                    ev = msgspec.json.decode(rec.payload, type=type_)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue
                if ev.venue is venue and ev.client_order_id == client_order_id:
                    return True
        return False

    def accepted(self, venue: Venue, order_id: str) -> tuple[str, str] | None:
        """(client order id, venue order id) of the OrderAccepted naming ``order_id`` either way."""
        for rec in self._scan("OrderAccepted", order_id):
            try:
                ev = msgspec.json.decode(rec.payload, type=OrderAccepted)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            if ev.venue is venue and (ev.client_order_id == order_id or ev.venue_order_id.lower() == order_id.lower()):
                return ev.client_order_id, ev.venue_order_id
        return None


def journal_client_ids(path: Path | None, venue: Venue) -> dict[str, str]:
    """venue order id (lower case) -> client order id, read from the journal (read-only, never
    locked): Polymarket has no client order ids, so the journal is what names our orders there."""
    from arbkit.journal.store import Journal, JournalError

    if path is None or not path.is_file():
        return {}
    try:
        j = Journal.open(path, readonly=True, integrity="none", check_last=0)
    except JournalError as exc:
        log.warning("journal %s not read for client order ids: %s", path, exc)
        return {}
    out: dict[str, str] = {}
    try:
        for rec, _ok in j.scan(0, kinds=["OrderAccepted"]):
            try:
                ev = msgspec.json.decode(rec.payload, type=OrderAccepted)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            if ev.venue is venue and ev.client_order_id and ev.venue_order_id:
                out[ev.venue_order_id.lower()] = ev.client_order_id
    except JournalError as exc:
        log.warning("journal %s not read for client order ids: %s", path, exc)
    finally:
        j.close_sync()
    return out


# --- confirmation --------------------------------------------------------------------------------


def _confirm_live(target: Target, plan: list[str], yes: bool, live: bool, what: str) -> None:
    """Live: print the plan, then ask (unless --yes). Sim: print the plan on stderr only."""
    header = f"{'LIVE ' if target.live else ''}{what} on {target.venue.value} ({target.vcfg.rest_url}):"
    typer.echo("\n".join([header, *("  " + p for p in plan)]), err=True)
    if not target.live:
        return
    if not live:
        raise OrdersError(f"venues.{target.venue.value} is in mode live: add --live to send real orders")
    if yes:
        return
    if not sys.stdin or not sys.stdin.isatty():
        raise OrdersError("a live order needs confirmation: stdin is not a terminal, so nothing was sent (add --yes "
                          "after checking the lines above)")
    if not typer.confirm("Send it?", default=False, err=True):
        raise OrdersError("not confirmed: nothing was sent")


def _live_guard(target: Target, live: bool, yes: bool) -> None:
    """Before any network: the live flag, and (without --yes) a terminal to confirm on."""
    if not target.live:
        if live:
            raise OrdersError(f"--live given but venues.{target.venue.value} is in mode {target.vcfg.mode.value}")
        return
    if not live:
        raise OrdersError(f"venues.{target.venue.value} is in mode live: add --live to send real orders")
    missing = []
    for f in ("private_key_env", "api_key_env", "api_secret_env", "api_passphrase_env", "api_key_id_env"):
        ref = getattr(target.vcfg, f, None)
        if ref and not target.env.get(ref):
            missing.append(f"venues.{target.venue.value}.{f}: environment variable {ref} is not set")
    ref = getattr(target.vcfg, "private_key_file", None)
    if ref and not Path(ref).is_file():
        missing.append(f"venues.{target.venue.value}.private_key_file: key file {ref} does not exist")
    if missing:
        raise OrdersError("refusing to send live: " + "; ".join(missing))


# --- commands: implementation ---------------------------------------------------------------------


@dataclass
class PlaceArgs:
    market: str
    outcome: OutcomeName
    side: SideName
    price: Decimal
    quantity: Decimal
    tif: TifName
    expire_at_ns: int
    post_only: bool
    client_order_id: str
    wait_s: float


def _plan_lines(target: Target, a: PlaceArgs, inst: Any | None) -> list[str]:
    iid = inst.id if inst is not None else f"{target.venue.value}:{a.market} ({a.outcome.value})"
    quote = inst.quote if inst is not None else ""
    lines = [
        f"{a.side.value.upper()} {_dec(a.quantity)} {a.outcome.value.upper()} of {a.market}",
        f"instrument {iid}",
        f"limit price {_dec(a.price)}, quantity {_dec(a.quantity)}, time in force {a.tif.value.upper()}"
        + (f" until {_ts(a.expire_at_ns)} UTC" if a.tif is TifName.gtd else "")
        + (f" (wire expiration {_ts(_wire_expiry_ns(target.venue, a.expire_at_ns))} UTC: the venue's one-minute "
           "security threshold)" if a.tif is TifName.gtd and target.venue is Venue.POLYMARKET else "")
        + (", post-only" if a.post_only else ""),
        f"notional {_dec(a.price * a.quantity)} {quote}".rstrip(),
        f"client order id {a.client_order_id}",
    ]
    if inst is not None:
        lines.append(f"venue grid: tick {_dec(inst.tick_size)}, size increment {_dec(inst.size_increment)}, "
                     f"minimum {_dec(inst.min_size)}")
    return lines


def _wire_expiry_ns(venue: Venue, expire_at_ns: int) -> int:
    """The expiry to send for an order that should stop resting at ``expire_at_ns``."""
    if venue is Venue.POLYMARKET:
        return expire_at_ns + POLYMARKET_GTD_SECURITY_S * 1_000_000_000
    return expire_at_ns


async def _order_fills(gw: Any, since_ns: int, coid: str, voi: str) -> list[OrderFilled]:
    out = []
    for ev in await gw.fills_since(since_ns):
        if isinstance(ev, OrderFilled) and ((coid and ev.client_order_id == coid) or (voi and ev.venue_order_id == voi)):
            out.append(ev)
    return out


async def place_order(target: Target, a: PlaceArgs, live: bool, yes: bool) -> dict[str, Any]:
    _need_journal(target)
    if a.tif is TifName.gtd and target.venue is Venue.POLYMARKET:
        ahead_s = (_wire_expiry_ns(target.venue, a.expire_at_ns) - time.time_ns()) / 1e9
        if ahead_s < POLYMARKET_GTD_MIN_AHEAD_S:
            raise OrdersError(f"Polymarket GTD: the order must rest at least "
                              f"{POLYMARKET_GTD_MIN_AHEAD_S - POLYMARKET_GTD_SECURITY_S} s (its wire expiration, "
                              f"{POLYMARKET_GTD_SECURITY_S} s after --expires, must be {POLYMARKET_GTD_MIN_AHEAD_S} s ahead)")
    _live_guard(target, live, yes)
    if target.live and not yes and (not sys.stdin or not sys.stdin.isatty()):
        # refuse before any network: print what would have been sent
        _confirm_live(target, _plan_lines(target, a, None), yes, live, "order")
    journal = OrderJournal(target.journal_path)  # the lock first: a running node's journal is refused up front
    try:
        if journal.submitted(target.venue, a.client_order_id):
            raise OrdersError(f"client order id {a.client_order_id} was already sent on {target.venue.value} (see "
                              f"`arbkit journal show {target.journal_path} {a.client_order_id}`): a second order under "
                              "it is refused")
        return await _place(target, a, live, yes, journal)
    finally:
        await journal.close()


async def _place(target: Target, a: PlaceArgs, live: bool, yes: bool, journal: OrderJournal) -> dict[str, Any]:
    from arbkit.core.orders import OrderRequest

    async with VenueSession(target) as vs:
        inst = await vs.instrument(a.market, a.outcome)
        problem = await vs.order_problem(inst, a.price, a.quantity)
        if problem:
            raise OrdersError(f"order refused before sending: {problem}")
        notional = a.price * a.quantity
        if target.max_order_notional is not None and notional > target.max_order_notional:
            raise OrdersError(f"order refused before sending: notional {_dec(notional)} is above "
                              f"risk.max_order_notional {_dec(target.max_order_notional)}")
        _confirm_live(target, _plan_lines(target, a, inst), yes, live, "order")
        corr = a.client_order_id
        side = Side.BUY if a.side is SideName.buy else Side.SELL
        tif = TimeInForce[a.tif.value.upper()]
        request = OrderRequest(instrument=inst, client_order_id=a.client_order_id, side=side, quantity=a.quantity,
                               price=a.price, order_type=OrderType.LIMIT, time_in_force=tif, post_only=a.post_only,
                               expire_at_ns=_wire_expiry_ns(target.venue, a.expire_at_ns) if tif is TimeInForce.GTD else 0,
                               correlation_id=corr)
        t0 = time.time_ns()
        journal.append(OrderSubmitted(
            venue=target.venue, instrument_id=inst.id, client_order_id=a.client_order_id, side=side,
            order_type=OrderType.LIMIT, time_in_force=tif, price=a.price, quantity=a.quantity,
            post_only=a.post_only, correlation_id=corr, ts_recv=t0))
        await journal.flush()  # durable before it is sent
        result = await vs.gateway.submit(request)
        events = [_with_corr(ev, corr) for ev in result.events]
        for ev in events:
            journal.append(ev)
        await journal.flush()
        state = None
        fills: list[OrderFilled] = []
        if result.accepted:
            if a.wait_s > 0:
                await asyncio.sleep(a.wait_s)
            with contextlib.suppress(Exception):
                state = await vs.gateway.order_state(a.client_order_id, result.venue_order_id)
            try:
                fills = await _order_fills(vs.gateway, t0 - 2_000_000_000, a.client_order_id, result.venue_order_id)
            except Exception as exc:  # noqa: BLE001 - the order is placed; fills can be read later
                log.warning("fills of %s not read: %s", a.client_order_id, _why(exc))
            seen = set()
            for f in fills:
                if f.trade_id in seen:
                    continue
                seen.add(f.trade_id)
                f = msgspec.structs.replace(f, client_order_id=f.client_order_id or a.client_order_id,
                                            correlation_id=corr)
                journal.append(f)
                events.append(f)
            await journal.flush()
    rejected = next((e for e in events if isinstance(e, OrderRejected)), None)
    status = state.status.value if state is not None else ("REJECTED" if rejected else ("ACCEPTED" if result.accepted else "UNKNOWN"))
    filled = state.filled_quantity if state is not None else sum((f.quantity for f in events if isinstance(f, OrderFilled)), Decimal(0))
    return {
        "venue": target.venue.value, "instrument_id": inst.id, "client_order_id": a.client_order_id,
        "venue_order_id": result.venue_order_id, "accepted": result.accepted, "status": status,
        "side": side.value, "price": a.price, "quantity": a.quantity, "filled_quantity": filled,
        "time_in_force": tif.value, "correlation_id": corr, "journal": str(journal.path),
        "reject_reason": rejected.reason if rejected else "", "reject_code": rejected.code if rejected else "",
        "events": [_event_row(e) for e in events],
    }


async def cancel_orders(target: Target, order_id: str | None, all_: bool, live: bool, yes: bool) -> dict[str, Any]:
    _need_journal(target)
    _live_guard(target, live, yes)
    what = "cancel every open order" if all_ else f"cancel order {order_id}"
    if target.live and not yes and (not sys.stdin or not sys.stdin.isatty()):
        _confirm_live(target, [what], yes, live, "cancel")
    journal = OrderJournal(target.journal_path)
    try:
        async with VenueSession(target) as vs:
            coid, voi = "*", ""
            if not all_:
                assert order_id is not None
                opened = await vs.gateway.open_orders()
                match = [o for o in opened if order_id in (o.client_order_id, o.venue_order_id)
                         or (order_id.lower().startswith("0x") and o.venue_order_id.lower() == order_id.lower())]
                if not match:
                    known = journal.accepted(target.venue, order_id)
                    if known:
                        match = [o for o in opened if o.venue_order_id.lower() == known[1].lower()]
                if not match:
                    raise OrdersError(f"no open order {order_id!r} on {target.venue.value} (filled, canceled, or not "
                                      f"this account's; `arbkit orders list` shows the open ones)")
                o = match[0]
                voi = o.venue_order_id
                coid = o.client_order_id or (journal.accepted(target.venue, voi) or ("", ""))[0] \
                    or (order_id if order_id.lower() != voi.lower() else "")
                what = f"cancel order {voi}" + (f" (client order id {coid})" if coid else "") + \
                       f": {o.side.value} {_dec(o.quantity)} {o.instrument_id} at {_dec(o.price)}, filled {_dec(o.filled_quantity)}"
            _confirm_live(target, [what], yes, live, "cancel")
            from arbkit.core.ids import new_correlation_id

            corr = new_correlation_id("op-cancel")
            journal.append(OrderCancelRequested(venue=target.venue, client_order_id=coid, venue_order_id=voi,
                                                cancel_all=all_, correlation_id=corr, ts_recv=time.time_ns()))
            await journal.flush()
            if all_:
                raw = await vs.gateway.cancel_all()
            else:
                raw = await vs.gateway.cancel(coid if coid != "*" else "", voi)
            events = []
            for ev in raw:
                if isinstance(ev, (OrderCanceled, OrderCancelRejected)) and not ev.client_order_id and not all_:
                    ev = msgspec.structs.replace(ev, client_order_id=coid)
                events.append(_with_corr(ev, corr))
            for ev in events:
                journal.append(ev)
            await journal.flush()
    finally:
        await journal.close()
    return {"venue": target.venue.value, "all": all_, "requested": order_id or "*", "correlation_id": corr,
            "journal": str(journal.path),
            "canceled": [_event_row(e) for e in events if isinstance(e, OrderCanceled)],
            "rejected": [_event_row(e) for e in events if isinstance(e, OrderCancelRejected)]}


async def list_orders(target: Target) -> list[Any]:
    async with VenueSession(target) as vs:
        orders = await vs.gateway.open_orders()
    names = journal_client_ids(target.journal_path, target.venue)
    for o in orders:
        if not o.client_order_id:
            o.client_order_id = names.get(o.venue_order_id.lower(), "")
    return sorted(orders, key=lambda o: (o.ts_created, o.venue_order_id))


async def list_fills(target: Target, since_ns: int, market: str | None) -> list[OrderFilled]:
    async with VenueSession(target) as vs:
        evs = await vs.gateway.fills_since(since_ns)
        if target.venue is Venue.POLYMARKET:
            # the gateway prices a fill's fee from the market's fee rate: learn the markets, then read again
            tokens = {e.instrument_id.split(":", 1)[1] for e in evs if isinstance(e, OrderFilled)}
            unknown = [t for t in tokens if vs.gateway.metadata.cached(t) is None]
            for tok in unknown:
                with contextlib.suppress(Exception):
                    await vs.gateway.metadata.get(tok)
            if unknown:
                evs = await vs.gateway.fills_since(since_ns)
    fills = [e for e in evs if isinstance(e, OrderFilled)]
    if market:
        fills = [f for f in fills if market in f.instrument_id]
    names = journal_client_ids(target.journal_path, target.venue)
    uniq: dict[tuple[str, str, str], OrderFilled] = {}
    for f in fills:
        if not f.client_order_id and f.venue_order_id.lower() in names:
            f = msgspec.structs.replace(f, client_order_id=names[f.venue_order_id.lower()])
        uniq[(f.trade_id, f.venue_order_id, f.instrument_id)] = f
    return sorted(uniq.values(), key=lambda f: (f.ts_venue, f.trade_id))


async def list_positions(target: Target, markets: list[str]) -> list[Any]:
    async with VenueSession(target) as vs:
        gw = vs.gateway
        if target.venue is Venue.POLYMARKET:
            # The venue reports share balances per token: make the gateway know the tokens to ask about
            # (the markets named, the simulator's markets, and those of this account's orders and trades).
            for m in markets:
                await vs._polymarket_pair(m)
            for m in target.info_markets:
                if m.get("condition_id"):
                    with contextlib.suppress(Exception):
                        await vs._polymarket_pair(m["condition_id"])
            tokens: set[str] = set()
            with contextlib.suppress(Exception):
                tokens |= {o.instrument_id.split(":", 1)[1] for o in await gw.open_orders()}
            with contextlib.suppress(Exception):
                tokens |= {f.instrument_id.split(":", 1)[1] for f in await gw.fills_since(0) if isinstance(f, OrderFilled)}
            for tok in sorted(tokens):
                with contextlib.suppress(Exception):
                    await gw.metadata.get(tok)
        positions = await gw.positions()
    if markets and target.venue is Venue.KALSHI:
        positions = [p for p in positions if any(m in p.instrument_id for m in markets)]
    return sorted(positions, key=lambda p: p.instrument_id)


async def list_balances(target: Target) -> list[Any]:
    async with VenueSession(target) as vs:
        return await vs.gateway.balances()


# --- commands: typer -----------------------------------------------------------------------------

_venue_opt = typer.Option(..., "--venue", help="polymarket or kalshi.", case_sensitive=False)
_config_opt = typer.Option(None, "--config", help="Node configuration (TOML): the venue's mode, URLs, credentials and the journal.")
_info_opt = typer.Option(None, "--info-file", help="Target a running `arbkit sim --info-file PATH`: its URLs and a test account.")
_account_opt = typer.Option(0, "--account", min=0, help="With --info-file: which of the simulator's test accounts.")
_journal_opt = typer.Option(None, "--journal", help="With --info-file and no --config: the journal orders go to "
                                                   "(reads use it to name client order ids).")
_json_opt = typer.Option(False, "--json", help="Print JSON instead of a table.")
_live_opt = typer.Option(False, "--live", help="Required to send to a venue in mode live.")
_yes_opt = typer.Option(False, "--yes", "-y", help="Live: send without asking (the plan is still printed).")


def _fail(cmd: str, exc: BaseException) -> None:
    typer.echo(f"arbkit orders {cmd}: {_why(exc)}", err=True)
    raise typer.Exit(2)


def _run(cmd: str, coro_factory: Any) -> Any:
    from arbkit.runtime.logging import configure_logging

    configure_logging("warning", json=False, stream=sys.stderr)
    try:
        return asyncio.run(coro_factory())
    except OrdersError as exc:
        _fail(cmd, exc)
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        typer.echo(f"arbkit orders {cmd}: interrupted", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:  # noqa: BLE001 - never a traceback: one line and exit code 2
        _fail(cmd, exc)


@app.command("place")
def place_cmd(
    venue: VenueName = _venue_opt,
    market: str = typer.Option(..., "--market", help="Kalshi market ticker; Polymarket condition id (0x...) or token id."),
    outcome: OutcomeName = typer.Option(..., "--outcome", help="yes or no.", case_sensitive=False),
    side: SideName = typer.Option(..., "--side", help="buy or sell.", case_sensitive=False),
    price: str = typer.Option(..., "--price", help="Limit price in (0, 1), on the market's tick grid (never rounded)."),
    quantity: str = typer.Option(..., "--quantity", "--qty", help="Shares / contracts, a multiple of the size increment."),
    tif: TifName = typer.Option(TifName.gtc, "--tif", help="Time in force: gtc, ioc, fok or gtd.", case_sensitive=False),
    expires: Optional[str] = typer.Option(None, "--expires", help="GTD expiry: a duration from now (10m, 2h), ISO time or epoch s."),
    post_only: bool = typer.Option(False, "--post-only", help="Refuse to take liquidity (GTC/GTD)."),
    client_order_id: Optional[str] = typer.Option(None, "--client-order-id", help="Your id (default: a fresh op-... id)."),
    wait: float = typer.Option(0.0, "--wait", min=0, help="Seconds to wait after acceptance before reading the order's fills."),
    config: Optional[Path] = _config_opt,
    info_file: Optional[Path] = _info_opt,
    account: int = _account_opt,
    journal: Optional[Path] = _journal_opt,
    live: bool = _live_opt,
    yes: bool = _yes_opt,
    as_json: bool = _json_opt,
) -> None:
    """Place one limit order, journaled before it is sent; print the venue's answer and any fills."""

    async def go() -> dict[str, Any]:
        target = resolve_target(venue, config, info_file, account, journal)
        p, q = _decimal("price", price), _decimal("quantity", quantity)
        if tif is TifName.gtd and not expires:
            raise OrdersError("--tif gtd needs --expires")
        if expires and tif is not TifName.gtd:
            raise OrdersError("--expires is for --tif gtd only")
        exp = _time_ns("expires", expires, past=False) if expires else 0
        if exp and exp <= time.time_ns():
            raise OrdersError(f"--expires {expires!r} is in the past")
        coid = client_order_id or new_client_order_id()
        if not _COID_RE.match(coid):
            raise OrdersError(f"--client-order-id must be 1-{MAX_CLIENT_ORDER_ID} characters of A-Z a-z 0-9 _ . : -")
        args = PlaceArgs(market=market.strip(), outcome=outcome, side=side, price=p, quantity=q, tif=tif,
                         expire_at_ns=exp, post_only=post_only, client_order_id=coid, wait_s=wait)
        return await place_order(target, args, live, yes)

    res = _run("place", go)
    if as_json:
        _emit_json(res)
    else:
        rows = [["status", res["status"]], ["client order id", res["client_order_id"]],
                ["venue order id", res["venue_order_id"] or "-"], ["instrument", res["instrument_id"]],
                ["order", f"{res['side']} {_dec(res['quantity'])} at {_dec(res['price'])} {res['time_in_force']}"],
                ["filled", _dec(res["filled_quantity"])]]
        for e in res["events"]:
            if e["type"] == "OrderFilled":
                rows.append(["fill", f"{e['trade_id']}: {_dec(Decimal(e['quantity']))} at {_dec(Decimal(e['price']))} "
                                     f"fee {_dec(Decimal(e['fee']))} {e['fee_currency']} {e['liquidity']} {e['status']}"])
        if res["reject_reason"]:
            rows.append(["rejected", f"{res['reject_reason']}" + (f" ({res['reject_code']})" if res["reject_code"] else "")])
        rows += [["correlation id", res["correlation_id"]], ["journal", res["journal"]]]
        _table(f"{res['venue']} order", ["", ""], rows, header=False)
    if not res["accepted"]:
        typer.echo(f"arbkit orders place: the venue refused the order: {res['reject_reason'] or 'no reason given'}", err=True)
        raise typer.Exit(2)


@app.command("cancel")
def cancel_cmd(
    order_id: Optional[str] = typer.Argument(None, help="Client order id or venue order id of an open order."),
    all_: bool = typer.Option(False, "--all", help="Cancel every open order of this account on the venue."),
    venue: VenueName = _venue_opt,
    config: Optional[Path] = _config_opt,
    info_file: Optional[Path] = _info_opt,
    account: int = _account_opt,
    journal: Optional[Path] = _journal_opt,
    live: bool = _live_opt,
    yes: bool = _yes_opt,
    as_json: bool = _json_opt,
) -> None:
    """Cancel one open order (by client or venue order id) or, with --all, every open order; journaled."""

    async def go() -> dict[str, Any]:
        if bool(order_id) == bool(all_):
            raise OrdersError("give an order id or --all (not both)")
        target = resolve_target(venue, config, info_file, account, journal)
        return await cancel_orders(target, order_id, all_, live, yes)

    res = _run("cancel", go)
    if as_json:
        _emit_json(res)
    else:
        rows = [["canceled", e.get("venue_order_id") or "-", e.get("client_order_id") or "-",
                 _dec(Decimal(e["filled_quantity"])) if e.get("filled_quantity") is not None else "-", e.get("reason", "")]
                for e in res["canceled"]]
        rows += [["NOT canceled", "-", e.get("client_order_id") or "-", "-", e.get("reason", "")] for e in res["rejected"]]
        _table(f"{res['venue']} cancel {res['requested']}  (correlation {res['correlation_id']}, journal {res['journal']})",
               ["result", "venue order id", "client order id", "filled", "reason"], rows)
    if res["rejected"] or (not res["all"] and not res["canceled"]):
        typer.echo("arbkit orders cancel: the venue did not cancel: "
                   + ("; ".join(e.get("reason", "") for e in res["rejected"]) or "no cancel reported"), err=True)
        raise typer.Exit(2)


@app.command("list")
def list_cmd(
    venue: VenueName = _venue_opt,
    config: Optional[Path] = _config_opt,
    info_file: Optional[Path] = _info_opt,
    account: int = _account_opt,
    journal: Optional[Path] = _journal_opt,
    as_json: bool = _json_opt,
) -> None:
    """List this account's open orders on the venue (client order ids from the journal where the venue has none)."""

    async def go() -> list[Any]:
        return await list_orders(resolve_target(venue, config, info_file, account, journal))

    orders = _run("list", go)
    if as_json:
        _emit_json(orders)
        return
    _table(f"{venue.value} open orders ({len(orders)})",
           ["created (UTC)", "client order id", "venue order id", "instrument", "side", "price", "quantity", "filled", "status", "tif"],
           [[_ts(o.ts_created), o.client_order_id or "-", o.venue_order_id, o.instrument_id, o.side.value, _dec(o.price),
             _dec(o.quantity), _dec(o.filled_quantity), o.status.value, o.time_in_force.value] for o in orders])


@app.command("fills")
def fills_cmd(
    venue: VenueName = _venue_opt,
    since: str = typer.Option("24h", "--since", help="From when: a duration back (30m, 24h, 7d), ISO time or epoch s."),
    market: Optional[str] = typer.Option(None, "--market", help="Only fills whose instrument contains this."),
    config: Optional[Path] = _config_opt,
    info_file: Optional[Path] = _info_opt,
    account: int = _account_opt,
    journal: Optional[Path] = _journal_opt,
    as_json: bool = _json_opt,
) -> None:
    """List this account's recent fills on the venue."""

    async def go() -> list[OrderFilled]:
        target = resolve_target(venue, config, info_file, account, journal)
        return await list_fills(target, _time_ns("since", since, past=True), market)

    fills = _run("fills", go)
    if as_json:
        _emit_json([_event_row(f) for f in fills])
        return
    _table(f"{venue.value} fills since {since} ({len(fills)})",
           ["time (UTC)", "trade id", "client order id", "venue order id", "instrument", "side", "price", "quantity", "fee",
            "liquidity", "status"],
           [[_ts(f.ts_venue), f.trade_id, f.client_order_id or "-", f.venue_order_id, f.instrument_id, f.side.value,
             _dec(f.price), _dec(f.quantity), f"{_dec(f.fee)} {f.fee_currency}", f.liquidity.value, f.status.value]
            for f in fills])


@app.command("positions")
def positions_cmd(
    venue: VenueName = _venue_opt,
    market: Optional[list[str]] = typer.Option(None, "--market", help="Also ask about this market (repeatable; Polymarket "
                                                                       "reports positions per token)."),
    config: Optional[Path] = _config_opt,
    info_file: Optional[Path] = _info_opt,
    account: int = _account_opt,
    journal: Optional[Path] = _journal_opt,
    as_json: bool = _json_opt,
) -> None:
    """List this account's positions on the venue."""

    async def go() -> list[Any]:
        return await list_positions(resolve_target(venue, config, info_file, account, journal), list(market or []))

    positions = _run("positions", go)
    if as_json:
        _emit_json(positions)
        return
    _table(f"{venue.value} positions ({len(positions)})", ["instrument", "quantity", "average price"],
           [[p.instrument_id, _dec(p.quantity), _dec(p.avg_price)] for p in positions])


@app.command("balance")
def balance_cmd(
    venue: VenueName = _venue_opt,
    config: Optional[Path] = _config_opt,
    info_file: Optional[Path] = _info_opt,
    account: int = _account_opt,
    journal: Optional[Path] = _journal_opt,
    as_json: bool = _json_opt,
) -> None:
    """Show this account's collateral balance on the venue."""

    async def go() -> list[Any]:
        return await list_balances(resolve_target(venue, config, info_file, account, journal))

    balances = _run("balance", go)
    if as_json:
        _emit_json(balances)
        return
    _table(f"{venue.value} balance", ["currency", "total", "available"],
           [[b.currency, _dec(b.total), _dec(b.available)] for b in balances])

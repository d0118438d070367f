"""Read both venues' public market lists over REST (plain aiohttp, unauthenticated).

Polymarket: CLOB ``GET /markets`` (cursor pages until ``next_cursor`` is ``LTE=``) and, when the
venue serves them, Gamma-style ``GET /events`` (offset pages) for ``groupItemTitle`` and
``resolutionSource`` of each market. Kalshi: ``GET /markets?status=open`` (cursor pages),
``GET /events`` and ``GET /series/{ticker}`` (settlement sources). Works against the simulator
(URLs from ``arbkit sim --info-file``) or the live venues.

Saved catalogues (``arbkit mappings discover --polymarket-file F --kalshi-file F``): the venues'
own REST JSON as ``curl`` saved it. Accepted shapes, field names checked 2026-12-04 against:

- Polymarket Gamma ``GET /events`` (a list of events, each with nested ``markets``), ``GET /events/{id}``
  (one event), ``GET /markets`` (a list of markets; ``conditionId``, ``question``, ``description``,
  ``groupItemTitle``, ``resolutionSource``, ``endDate``, ``negRisk``, and ``outcomes`` /
  ``clobTokenIds`` as JSON-encoded arrays) — https://docs.polymarket.com/market-data/overview and
  the Gamma market model of NautilusTrader (nautilus_polymarket::http::models::GammaMarket); CLOB
  ``GET /markets`` pages (``{"data": [...], "next_cursor"}``, ``tokens[].outcome/token_id``,
  ``condition_id``, ``end_date_iso``) — ../shared/fixtures/polymarket/nautilus_trader/.
- Kalshi trade API v2 ``GET /markets`` (``{"markets": [...], "cursor"}``), ``GET /markets/{ticker}``
  (``{"market": {...}}``), ``GET /events`` (``{"events": [...]}``, with nested ``markets`` when asked
  ``with_nested_markets=true``), ``GET /events/{ticker}`` (``{"event": {...}, "markets": [...]}``),
  ``GET /series/{ticker}`` (``{"series": {..., "settlement_sources": [{name, url}]}}``) and
  ``GET /series`` (``{"series": [...]}``) — https://docs.kalshi.com/api-reference (markets, events,
  series; the market fields are listed on https://docs.kalshi.com/api-reference/market/get-markets
  and /get-market: yes_sub_title, no_sub_title, rules_primary, rules_secondary, strike_type,
  floor_strike, cap_strike, mve_collection_ticker, mve_selected_legs); raw prod recordings of the same endpoints in
  ../shared/fixtures/kalshi/kalshi-starter-code-python_golden/ (``yes_sub_title``, ``no_sub_title``,
  ``rules_primary``, ``rules_secondary``, ``strike_type``, ``floor_strike``, ``cap_strike``,
  ``close_time``, ``expiration_time``, ``event_ticker``; series ``settlement_sources``).

Several files per venue may be given (markets in one, events and series in others); missing
fields are tolerated, malformed entries are counted as skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import aiohttp

from arbkit.mapping.discover import KalshiMarket, PolyMarket

log = logging.getLogger("arbkit.mapping.reader")

POLY_END_CURSOR = "LTE="
TIMEOUT = aiohttp.ClientTimeout(total=30)


class ReadError(RuntimeError):
    """A venue list could not be read (names the URL and the problem)."""


@dataclass
class VenueLists:
    polymarket: list[PolyMarket] = field(default_factory=list)
    kalshi: list[KalshiMarket] = field(default_factory=list)
    skipped: int = 0  # malformed or non-binary entries


async def _get(session: aiohttp.ClientSession, url: str, params: dict[str, str] | None = None,
               *, optional: bool = False, attempts: int = 4) -> Any:
    """GET JSON. 429 and 5xx are retried with backoff (public endpoints are rate limited);
    anything else that is not 200 is a ReadError naming the URL (404 is None when optional)."""
    delay = 0.5
    for attempt in range(attempts):
        try:
            async with session.get(url, params=params) as resp:
                if resp.status == 404 and optional:
                    return None
                if (resp.status == 429 or resp.status >= 500) and attempt + 1 < attempts:
                    retry_after = resp.headers.get("Retry-After", "")
                    wait = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else delay
                    log.warning("GET %s answered HTTP %s; retrying in %.1f s", url, resp.status, wait)
                    await asyncio.sleep(min(wait, 10.0))
                    delay *= 2
                    continue
                if resp.status != 200:
                    text = (await resp.text())[:200]
                    raise ReadError(f"GET {url} answered HTTP {resp.status}: {text}")
                return await resp.json(content_type=None)
        except aiohttp.ClientError as exc:
            raise ReadError(f"GET {url} failed: {exc}") from exc
        except ValueError as exc:
            raise ReadError(f"GET {url} did not answer JSON: {exc}") from exc
    raise ReadError(f"GET {url}: gave up after {attempts} attempts")  # pragma: no cover - loop returns or raises


async def read_polymarket(session: aiohttp.ClientSession, base_url: str, gamma_url: str | None = None,
                          max_pages: int = 1000) -> tuple[list[PolyMarket], int]:
    """Open binary markets of the CLOB, merged with Gamma event markets when available."""
    base = base_url.rstrip("/")
    items: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(max_pages):
        page = await _get(session, f"{base}/markets", {"next_cursor": cursor} if cursor else None)
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise ReadError(f"GET {base}/markets: expected {{data: [...], next_cursor}}, got {str(page)[:120]}")
        items.extend(x for x in page["data"] if isinstance(x, dict))
        cursor = str(page.get("next_cursor") or "")
        if not cursor or cursor == POLY_END_CURSOR:
            break
    gamma: dict[str, dict[str, Any]] = {}
    gbase = (gamma_url or base).rstrip("/")
    offset = 0
    for _ in range(max_pages):
        events = await _get(session, f"{gbase}/events", {"closed": "false", "limit": "100", "offset": str(offset)},
                            optional=True)
        if not isinstance(events, list) or not events:
            break
        for ev in events:
            for gm in (ev.get("markets") or []) if isinstance(ev, dict) else []:
                if isinstance(gm, dict) and gm.get("conditionId"):
                    gamma[str(gm["conditionId"])] = gm
        if len(events) < 100:
            break
        offset += len(events)
    out: list[PolyMarket] = []
    skipped = 0
    for m in items:
        if m.get("closed") or m.get("archived") or m.get("active") is False:
            continue
        pm = PolyMarket.from_clob(m, gamma.get(str(m.get("condition_id"))))
        if pm is None:
            skipped += 1
            continue
        out.append(pm)
    return out, skipped


async def read_kalshi(session: aiohttp.ClientSession, base_url: str, max_pages: int = 1000,
                      concurrency: int = 8) -> tuple[list[KalshiMarket], int]:
    """Open Kalshi markets with their events and series."""
    base = base_url.rstrip("/")
    markets: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(max_pages):
        params = {"status": "open", "limit": "1000"}
        if cursor:
            params["cursor"] = cursor
        page = await _get(session, f"{base}/markets", params)
        if not isinstance(page, dict) or not isinstance(page.get("markets"), list):
            raise ReadError(f"GET {base}/markets: expected {{markets: [...], cursor}}, got {str(page)[:120]}")
        markets.extend(x for x in page["markets"] if isinstance(x, dict))
        cursor = str(page.get("cursor") or "")
        if not cursor:
            break
    events: dict[str, dict[str, Any]] = {}
    cursor = ""
    for _ in range(max_pages):
        params = {"limit": "200"}
        if cursor:
            params["cursor"] = cursor
        page = await _get(session, f"{base}/events", params, optional=True)
        if not isinstance(page, dict):
            break
        for ev in page.get("events") or []:
            if isinstance(ev, dict) and ev.get("event_ticker"):
                events[str(ev["event_ticker"])] = ev
        cursor = str(page.get("cursor") or "")
        if not cursor:
            break
    series_tickers = sorted({str(e.get("series_ticker")) for e in events.values() if e.get("series_ticker")})
    sem = asyncio.Semaphore(concurrency)

    async def one(st: str) -> tuple[str, dict[str, Any] | None]:
        async with sem:
            body = await _get(session, f"{base}/series/{st}", optional=True)
        return st, (body.get("series") if isinstance(body, dict) else None)

    series = dict(await asyncio.gather(*(one(st) for st in series_tickers)))
    out: list[KalshiMarket] = []
    skipped = 0
    for m in markets:
        if not m.get("ticker") or m.get("market_type", "binary") != "binary":
            skipped += 1
            continue
        ev = events.get(str(m.get("event_ticker") or ""))
        st = (ev or {}).get("series_ticker")
        out.append(KalshiMarket(str(m["ticker"]), m, series.get(st) if st else None, ev))
    return out, skipped


def _load_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReadError(f"cannot read {path}: {exc}") from exc
    except ValueError as exc:
        raise ReadError(f"{path} is not JSON: {exc}") from exc


def _unwrap(doc: Any) -> Any:
    """A recording wrapper ``{"_metadata": ..., "response": {...}}`` around a REST body."""
    if isinstance(doc, dict) and "response" in doc and "_metadata" in doc:
        return doc["response"]
    return doc


def load_polymarket_files(paths: Iterable[Path]) -> tuple[list[PolyMarket], int]:
    """Polymarket markets from saved Gamma events/markets or CLOB ``/markets`` JSON."""
    out: dict[str, PolyMarket] = {}
    skipped = 0

    def gamma_market(m: Any, ev: dict[str, Any] | None) -> None:
        nonlocal skipped
        if not isinstance(m, dict):
            skipped += 1
            return
        if "tokens" in m and "condition_id" in m:  # a CLOB market
            pm = PolyMarket.from_clob(m)
        else:
            pm = PolyMarket.from_gamma(m, ev)
        if pm is None:
            skipped += 1
            return
        if pm.raw.get("closed") or pm.raw.get("archived") or pm.raw.get("active") is False:
            return
        if pm.condition_id in out:  # the same market from CLOB and Gamma: keep the richer text
            old = out[pm.condition_id]
            for k, v in pm.raw.items():
                if v and not old.raw.get(k):
                    old.raw[k] = v
            return
        out[pm.condition_id] = pm

    for path in paths:
        doc = _unwrap(_load_json(path))
        items: list[Any]
        if isinstance(doc, dict) and isinstance(doc.get("data"), list):
            items = doc["data"]
        elif isinstance(doc, dict) and isinstance(doc.get("events"), list):
            items = doc["events"]
        elif isinstance(doc, dict) and isinstance(doc.get("markets"), list) and "slug" not in doc:
            items = doc["markets"]
        elif isinstance(doc, list):
            items = doc
        elif isinstance(doc, dict):
            items = [doc]
        else:
            raise ReadError(f"{path}: expected Polymarket events or markets JSON, got {type(doc).__name__}")
        for it in items:
            if isinstance(it, dict) and isinstance(it.get("markets"), list):  # a Gamma event
                for m in it["markets"]:
                    gamma_market(m, it)
            else:
                gamma_market(it, None)
    return list(out.values()), skipped


def load_kalshi_files(paths: Iterable[Path]) -> tuple[list[KalshiMarket], int]:
    """Kalshi markets with their events and series from saved REST JSON."""
    markets: dict[str, dict[str, Any]] = {}
    events: dict[str, dict[str, Any]] = {}
    series: dict[str, dict[str, Any]] = {}
    skipped = 0

    def add_market(m: Any) -> None:
        nonlocal skipped
        if isinstance(m, dict) and m.get("ticker"):
            markets[str(m["ticker"])] = m
        else:
            skipped += 1

    def add_event(ev: Any) -> None:
        if not isinstance(ev, dict) or not ev.get("event_ticker"):
            return
        events[str(ev["event_ticker"])] = ev
        for m in ev.get("markets") or []:
            if isinstance(m, dict):
                m.setdefault("event_ticker", ev["event_ticker"])
            add_market(m)

    for path in paths:
        doc = _unwrap(_load_json(path))
        docs = doc if isinstance(doc, list) else [doc]
        for d in docs:
            if not isinstance(d, dict):
                skipped += 1
                continue
            if isinstance(d.get("markets"), list):
                for m in d["markets"]:
                    add_market(m)
            if isinstance(d.get("market"), dict):
                add_market(d["market"])
            if isinstance(d.get("events"), list):
                for ev in d["events"]:
                    add_event(ev)
            if isinstance(d.get("event"), dict):
                add_event(d["event"])
            sers = d.get("series")
            for s in (sers if isinstance(sers, list) else [sers] if isinstance(sers, dict) else []):
                if isinstance(s, dict) and s.get("ticker"):
                    series[str(s["ticker"])] = s
            if d.get("ticker") and ("rules_primary" in d or "event_ticker" in d):  # a bare market
                add_market(d)
    out: list[KalshiMarket] = []
    for m in markets.values():
        if m.get("market_type", "binary") != "binary":
            skipped += 1
            continue
        if str(m.get("status") or "active") in ("closed", "settled", "finalized", "determined"):
            continue
        ev = events.get(str(m.get("event_ticker") or ""))
        st = (ev or {}).get("series_ticker") or str(m.get("event_ticker") or "").split("-")[0]
        out.append(KalshiMarket(str(m["ticker"]), m, series.get(str(st)), ev))
    return out, skipped


async def read_both(polymarket_url: str, kalshi_url: str, gamma_url: str | None = None) -> VenueLists:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        (pm, s1), (km, s2) = await asyncio.gather(
            read_polymarket(session, polymarket_url, gamma_url), read_kalshi(session, kalshi_url)
        )
    return VenueLists(pm, km, s1 + s2)


async def read_one_side(venue: str, url: str, gamma_url: str | None) -> tuple[list[Any], int]:
    """One venue over REST (the other one came from a saved file)."""
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        if venue == "polymarket":
            return await read_polymarket(session, url, gamma_url)
        return await read_kalshi(session, url)

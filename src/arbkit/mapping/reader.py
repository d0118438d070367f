"""Read both venues' public market lists over REST (plain aiohttp, unauthenticated).

Polymarket: CLOB ``GET /markets`` (cursor pages until ``next_cursor`` is ``LTE=``) and, when the
venue serves them, Gamma-style ``GET /events`` (offset pages) for ``groupItemTitle`` and
``resolutionSource`` of each market. Kalshi: ``GET /markets?status=open`` (cursor pages),
``GET /events`` and ``GET /series/{ticker}`` (settlement sources). Works against the simulator
(URLs from ``arbkit sim --info-file``) or the live venues.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

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


async def read_both(polymarket_url: str, kalshi_url: str, gamma_url: str | None = None) -> VenueLists:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        (pm, s1), (km, s2) = await asyncio.gather(
            read_polymarket(session, polymarket_url, gamma_url), read_kalshi(session, kalshi_url)
        )
    return VenueLists(pm, km, s1 + s2)

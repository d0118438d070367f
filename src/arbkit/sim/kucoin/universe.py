"""The simulated KuCoin universe: spot pairs with real increments and prices consistent across
triangles (every pair's price is usd(base) / usd(quote), so a triangle's round trip is 1 before
spreads and fees).

Increments come from the real KuCoin symbol list in ``../shared`` when present
(cryptofeed's 2021-04-25 ``GET /api/v1/symbols`` capture, see /work/shared/data/SOURCES.md), else
from the built-in table below (the same values). ``minFunds`` is not in that v1 list; the v2 value
used is 0.1 of the quote for USDT pairs and 0.000001 BTC / 0.00001 ETH otherwise (KuCoin's
documented v2 example shows ``minFunds`` "0.1" for BTC-USDT).
"""

from __future__ import annotations

import json
import os
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from arbkit.sim.kucoin.spot import SpotMarket

D = Decimal
USD_PRICES: dict[str, Decimal] = {"USDT": D(1), "BTC": D(90000), "ETH": D(3000), "SOL": D(150), "KCS": D(10),
                                  "XRP": D(2), "LTC": D(100)}
DEFAULT_PAIRS = ["BTC-USDT", "ETH-USDT", "ETH-BTC", "SOL-USDT", "SOL-BTC", "KCS-USDT", "KCS-BTC", "XRP-USDT",
                 "XRP-BTC", "LTC-USDT", "LTC-BTC", "XRP-ETH", "KCS-ETH", "LTC-ETH"]
# symbol -> (priceIncrement, baseIncrement, baseMinSize, quoteIncrement, quoteMinSize), KuCoin's values
BUILTIN: dict[str, tuple[str, str, str, str, str]] = {
    "BTC-USDT": ("0.1", "0.00000001", "0.00001", "0.000001", "0.1"),
    "ETH-USDT": ("0.01", "0.0000001", "0.0001", "0.000001", "0.1"),
    "ETH-BTC": ("0.000001", "0.0000001", "0.0001", "0.00000001", "0.00001"),
    "SOL-USDT": ("0.001", "0.0001", "0.01", "0.000001", "0.1"),
    "SOL-BTC": ("0.00000001", "0.0001", "0.01", "0.00000001", "0.00001"),
    "KCS-USDT": ("0.0001", "0.0001", "0.01", "0.000001", "0.1"),
    "KCS-BTC": ("0.00000001", "0.0001", "0.01", "0.00000001", "0.00001"),
    "XRP-USDT": ("0.00001", "0.0001", "0.1", "0.000001", "0.1"),
    "XRP-BTC": ("0.000000001", "0.0001", "0.1", "0.00000001", "0.00001"),
    "LTC-USDT": ("0.01", "0.000001", "0.001", "0.000001", "0.1"),
    "LTC-BTC": ("0.000001", "0.000001", "0.001", "0.00000001", "0.00001"),
    "XRP-ETH": ("0.0000001", "0.0001", "0.1", "0.0000001", "0.0001"),
    "KCS-ETH": ("0.0000001", "0.0001", "0.01", "0.0000001", "0.0001"),
    "LTC-ETH": ("0.00001", "0.000001", "0.001", "0.0000001", "0.0001"),
}
MIN_FUNDS = {"USDT": D("0.1"), "BTC": D("0.000001"), "ETH": D("0.00001")}


def shared_symbols_file() -> Path | None:
    env = os.environ.get("ARBKIT_SHARED_DIR")
    roots = [Path(env)] if env else []
    roots.append(Path(__file__).resolve().parents[4] / ".." / "shared")
    roots.append(Path("/work/shared"))
    for r in roots:
        p = r / "data" / "cryptofeed" / "kucoin_api_v1_symbols_2021-04-25.json"
        if p.is_file():
            return p
    return None


def load_real_rows() -> dict[str, dict[str, Any]]:
    p = shared_symbols_file()
    if p is None:
        return {}
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    return {r["symbol"]: r for r in data.get("data", []) if isinstance(r, dict) and "symbol" in r}


STABLE = {"USDT", "USDC", "UST", "PAX", "TUSD", "DAI", "USDN", "BUSD"}
MIN_TICKS_PER_PRICE = 100  # a pair whose price is under 100 ticks is left out (too coarse to quote)


def usd_price_of(currency: str, known: dict[str, Decimal]) -> Decimal:
    """A currency's USD price: the configured one, 1 for stablecoins, else a deterministic price
    from a hash of its name (0.001 to ~100 USD, 4 significant digits), so every run with the same
    list prices the same and every triangle is consistent (all pairs derive from these)."""
    if currency in known:
        return known[currency]
    if currency in STABLE:
        return D(1)
    h = int.from_bytes(__import__("hashlib").sha256(currency.encode()).digest()[:8], "big")
    mant = D(1000 + h % 9000)  # 4 significant digits
    exp = (h >> 20) % 6  # 10^-3 .. 10^2 after scaling
    return (mant * D(10) ** (exp - 6)).normalize()


def pair_price(symbol: str, usd: dict[str, Decimal], tick: Decimal) -> Decimal:
    base, quote = symbol.split("-")
    return (usd_price_of(base, usd) / usd_price_of(quote, usd)).quantize(tick, rounding=ROUND_HALF_EVEN)


def build_markets(pairs: list[str] | str | None = None, taker_rate: Decimal = D("0.001"),
                  maker_rate: Decimal = D("0.001"), use_shared: bool = True,
                  usd: dict[str, Decimal] | None = None) -> tuple[list[SpotMarket], str]:
    """(markets, source) where source says where the increments came from. ``pairs="all"``: every
    trading pair of the real list (when ../shared is there) whose price is at least 100 ticks."""
    real = load_real_rows() if use_shared else {}
    out = []
    if pairs == "all":
        prices = usd if usd is not None else dict(USD_PRICES)
        chosen = []
        for sym, r in sorted(real.items()):
            if not r.get("enableTrading", True):
                continue
            tick = D(r["priceIncrement"])
            base, quote = r["baseCurrency"], r["quoteCurrency"]
            price = usd_price_of(base, prices) / usd_price_of(quote, prices)
            if price >= tick * MIN_TICKS_PER_PRICE:
                chosen.append(sym)
        pairs = chosen or DEFAULT_PAIRS
    for sym in pairs or DEFAULT_PAIRS:
        base, quote = (real[sym]["baseCurrency"], real[sym]["quoteCurrency"]) if sym in real else sym.split("-")
        if sym in real:
            r = real[sym]
            pi, bi, bmin = D(r["priceIncrement"]), D(r["baseIncrement"]), D(r["baseMinSize"])
            qi, qmin = D(r.get("quoteIncrement", "0.00000001")), D(r.get("quoteMinSize", "0"))
            fee_cur = r.get("feeCurrency") or quote
        elif sym in BUILTIN:
            pi, bi, bmin, qi, qmin = (D(x) for x in BUILTIN[sym])
            fee_cur = quote
        else:
            raise ValueError(f"no increments for {sym}")
        out.append(SpotMarket(symbol=sym, base=base, quote=quote, price_increment=pi, base_increment=bi,
                              base_min_size=bmin, quote_increment=qi, quote_min_size=qmin,
                              min_funds=MIN_FUNDS.get(quote, D(0)), fee_currency=fee_cur, taker_rate=taker_rate,
                              maker_rate=maker_rate, market="USDS" if quote == "USDT" else "BTC"))
    return out, ("shared:" + str(shared_symbols_file())) if real else "builtin"

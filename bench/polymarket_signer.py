"""Polymarket CLOB V2 order build + sign: arbkit's fast signer vs py-clob-client-v2's OrderBuilder."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from decimal import Decimal

from bench import harness

METHOD = (
    "Median wall time per order, same run, one core. arbkit: Decimal order (token, side, price, size) -> "
    "official rounding -> deterministic salt -> V2 EIP-712 struct hash -> secp256k1 signature (coincurve, "
    "precomputed type hash and domain separators); also the signature step alone. py-clob-client-v2: "
    "OrderBuilder.build_order(OrderArgsV2, CreateOrderOptions) (eth_account); measured with eth_keys' coincurve "
    "backend and, in a subprocess with ECC_BACKEND_CLASS=eth_keys.backends.NativeECCBackend, without it. "
    "Signatures are checked equal on a sample before timing."
)
TARGETS = {"arbkit_build_sign_median_us": ("<=", 60.0), "speedup_vs_official_best": (">=", 10.0)}

KEY = "0x" + "3c" * 32
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"


def _orders(n: int, seed: int = 4) -> list[tuple[str, Decimal, Decimal, bool]]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        side = "BUY" if rnd.random() < 0.5 else "SELL"
        price = Decimal(rnd.randint(1, 99)) / 100
        size = Decimal(rnd.randint(500, 100_000)) / 100
        out.append((side, price, size, rnd.random() < 0.5))
    return out


def _official_child(n: int) -> None:
    """Run in a subprocess: time the official builder, print JSON."""
    import time

    from py_clob_client_v2.clob_types import CreateOrderOptions, OrderArgsV2
    from py_clob_client_v2.order_builder.builder import OrderBuilder
    from py_clob_client_v2.signer import Signer

    import eth_keys.backends as backends

    ob = OrderBuilder(Signer(KEY, 137))
    samples = []
    for side, price, size, neg in _orders(n):
        args = OrderArgsV2(token_id=TOKEN, price=float(price), size=float(size), side=side)
        opts = CreateOrderOptions(tick_size="0.01", neg_risk=neg)
        t0 = time.perf_counter_ns()
        ob.build_order(args, opts)
        samples.append(time.perf_counter_ns() - t0)
    print(json.dumps({"samples": samples, "backend": type(backends.get_backend()).__name__}))


def _official(n: int, native: bool) -> tuple[dict, str]:
    env = dict(os.environ)
    if native:
        env["ECC_BACKEND_CLASS"] = "eth_keys.backends.NativeECCBackend"
    else:
        env.pop("ECC_BACKEND_CLASS", None)
    code = f"import sys; sys.path.insert(0, {str(harness.ROOT)!r}); from bench.polymarket_signer import _official_child; _official_child({n})"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    return harness.percentiles(rec["samples"]), rec["backend"]


def run(quick: bool) -> dict:
    from arbkit.core.enums import Side
    from arbkit.venues.polymarket.gateway import limit_order_amounts
    from arbkit.venues.polymarket.signer import OrderSigner, salt_for

    n = 2_000 if quick else 20_000
    signer = OrderSigner(KEY)
    orders = _orders(n)
    tick = Decimal("0.01")
    ts = 1_800_000_000_000

    def build_sign(i: int) -> object:
        side, price, size, neg = orders[i]
        s = Side.BUY if side == "BUY" else Side.SELL
        maker, taker = limit_order_amounts(s, size, price, tick)
        return signer.sign(token_id=TOKEN, maker_amount=maker, taker_amount=taker, side=0 if side == "BUY" else 1,
                           salt=salt_for(f"bench-{i}"), timestamp_ms=ts, neg_risk=neg)

    for i in range(200):  # warm caches (token word, code paths)
        build_sign(i)
    it = iter(range(n))
    build = harness.timeit_ns(lambda: build_sign(next(it)), n)
    so = build_sign(0)
    sign_only = harness.timeit_ns(lambda: signer.sign(token_id=TOKEN, maker_amount=5_000_000, taker_amount=10_000_000,
                                                      side=0, salt=12345, timestamp_ms=ts, neg_risk=False), n)
    figures: dict = {}
    b = harness.percentiles(build)
    figures["arbkit_build_sign_median_us"] = b["p50_us"]
    figures["arbkit_build_sign_p99_us"] = b["p99_us"]
    figures["arbkit_sign_only_median_us"] = harness.percentiles(sign_only)["p50_us"]
    figures["orders"] = n

    ref = harness.try_import("py_clob_client_v2")
    if ref is None:
        figures["official_median_us"] = "peer not installed"
        figures["speedup_vs_official_best"] = "peer not installed"
        return figures
    # equality check on a sample (same salt and timestamp through the official builder)
    from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2, Side as RSide, SignatureTypeV2
    from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2
    from py_clob_client_v2.signer import Signer

    from arbkit.venues.polymarket.constants import exchange_address

    rs = Signer(KEY, 137)
    eb = ExchangeOrderBuilderV2(exchange_address(137, orders[0][3]), 137, rs, generate_salt=lambda: str(so.salt))
    off = eb.build_signed_order(OrderDataV2(maker=rs.address(), tokenId=TOKEN, makerAmount=so.makerAmount,
                                            takerAmount=so.takerAmount, side=RSide.BUY if so.side == "BUY" else RSide.SELL,
                                            signer=rs.address(), signatureType=SignatureTypeV2.EOA, timestamp=so.timestamp))
    figures["signatures_equal"] = off.signature == so.signature

    m = n if quick else 5_000
    with_cc, backend_cc = _official(m, native=False)
    without_cc, backend_native = _official(max(200, m // 10), native=True)
    figures["official_with_coincurve_median_us"] = with_cc["p50_us"]
    figures["official_with_coincurve_backend"] = backend_cc
    figures["official_without_coincurve_median_us"] = without_cc["p50_us"]
    figures["official_without_coincurve_backend"] = backend_native
    best = min(with_cc["p50_us"], without_cc["p50_us"])
    figures["speedup_vs_official_best"] = round(best / b["p50_us"], 1)
    figures["speedup_vs_official_without_coincurve"] = round(without_cc["p50_us"] / b["p50_us"], 1)
    return figures

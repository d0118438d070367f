"""Runner pieces without sockets: test keys, engines per venue, info shapes, info file."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from arbkit.core.clock import SimClock
from arbkit.sim.engine import StpMode
from arbkit.sim.faults import FaultPlan
from arbkit.sim.runner import (
    eth_address_from_private_key,
    eth_checksum_address,
    make_engine,
    make_kalshi_account,
    make_polymarket_account,
    market_info,
    write_info_file,
)
from arbkit.sim.scenario import load_scenario


def test_ethereum_addresses_known_answers():
    assert eth_address_from_private_key((1).to_bytes(32, "big")) == "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
    # EIP-55 test vector
    assert eth_checksum_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed") == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def test_polymarket_accounts_are_deterministic_per_seed():
    a, b = make_polymarket_account(1, 0), make_polymarket_account(1, 0)
    assert a == b and a.account_id == a.address.lower()
    assert make_polymarket_account(2, 0).address != a.address
    assert make_polymarket_account(1, 1).address != a.address
    assert a.info() == {"private_key": a.private_key, "address": a.address}


def test_kalshi_key_file_is_private(tmp_path: Path):
    from cryptography.hazmat.primitives import serialization

    acct = make_kalshi_account(1, 0, tmp_path)
    path = Path(acct.private_key_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert key.key_size == 2048
    assert acct.info() == {"key_id": acct.key_id, "private_key_path": str(path)}
    assert acct.key_id == make_kalshi_account(1, 0, tmp_path / ".." / tmp_path.name).key_id


def test_engines_per_venue_rules():
    clock = SimClock()
    plan = FaultPlan(clock)
    pm, ks = make_engine("polymarket", clock, plan), make_engine("kalshi", clock, plan)
    assert not pm.settlement.instant and ks.settlement.instant
    assert ks.auto_net and not pm.auto_net
    assert pm.stp is StpMode.CANCEL_RESTING and pm.faults is plan


def test_market_info_shapes():
    sc = load_scenario("demo", 1)
    pm = next(m for m in sc.catalogue.markets if m.venue == "polymarket")
    ks = next(m for m in sc.catalogue.markets if m.venue == "kalshi")
    i = market_info(pm)
    assert {"condition_id", "question", "neg_risk", "tick_size", "tokens"} <= set(i)
    assert i["tokens"] == [{"token_id": pm.yes_symbol, "outcome": "Yes"}, {"token_id": pm.no_symbol, "outcome": "No"}]
    assert {"ticker", "title"} <= set(market_info(ks))


def test_info_file_written_whole_and_private(tmp_path: Path):
    p = tmp_path / "info.json"
    write_info_file(p, {"admin_url": "http://127.0.0.1:1"})
    assert json.loads(p.read_text()) == {"admin_url": "http://127.0.0.1:1"}
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert not (tmp_path / "info.json.tmp").exists()


_HASH_SCRIPT = """
import hashlib
from arbkit.core.clock import SimClock
from arbkit.sim.events import encode_sim_event
from arbkit.sim.faults import FaultPlan
from arbkit.sim.runner import make_engine
from arbkit.sim.scenario import load_scenario
clock = SimClock(); plan = FaultPlan(clock); sc = load_scenario("demo", 9)
engines = {v: make_engine(v, clock, plan) for v in sc.venues}
h = hashlib.sha256()
for v in sorted(engines):
    engines[v].subscribe(lambda b: [h.update(encode_sim_event(e)) for e in b])
sc.build(engines, clock)
for _ in range(40):
    clock.advance(sc.tick_s); sc.step()
    for v in sorted(engines): engines[v].on_time()
print(h.hexdigest())
"""


def test_same_seed_byte_identical_across_processes():
    hashes = set()
    for hashseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        r = subprocess.run([sys.executable, "-c", _HASH_SCRIPT], capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        hashes.add(r.stdout.strip())
    assert len(hashes) == 1

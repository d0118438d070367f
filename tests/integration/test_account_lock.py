"""One writer per venue account: a second node on the same simulator account is refused, naming
the first; once the first stops (or dies: the kernel drops an flock with its process) it starts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from arbkit.runtime.account_lock import AccountInUse, AccountLocks
from arbkit.runtime.config import loads_config
from arbkit.runtime.demo import KALSHI_KEY_ID_ENV, POLY_KEY_ENV, approve_twins, demo_config_text
from arbkit.runtime.node import Node, NodeError, NodeOptions
from arbkit.sim.runner import SimRunner

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
async def sim():
    runner = SimRunner(venues=["polymarket", "kalshi"], scenario="demo", seed=11)
    info = await runner.start()
    try:
        yield runner, info
    finally:
        await runner.stop()


async def test_a_second_node_on_the_same_account_is_refused(sim, tmp_path: Path) -> None:
    runner, info = sim
    mappings = tmp_path / "mappings.db"
    await approve_twins(info, mappings)
    env = {POLY_KEY_ENV: info["polymarket"]["accounts"][0]["private_key"],
           KALSHI_KEY_ID_ENV: info["kalshi"]["accounts"][0]["key_id"]}
    cfg_a = loads_config(demo_config_text(info, tmp_path / "a.sqlite", f"ipc://{tmp_path / 'a.ipc'}"), base_dir=tmp_path)
    cfg_b = loads_config(demo_config_text(info, tmp_path / "b.sqlite", f"ipc://{tmp_path / 'b.ipc'}"), base_dir=tmp_path)
    first = Node(cfg_a, NodeOptions(mappings_path=mappings, env=env, config_path="a.toml"))
    await first.start()
    try:
        second = Node(cfg_b, NodeOptions(mappings_path=mappings, env=env))
        with pytest.raises(NodeError, match=rf"pid {os.getpid()}.*a\.toml.*already trades this (polymarket|kalshi) account"):
            await second.start()
        assert second.engine is None or not second.trading
        assert not (tmp_path / "b.sqlite").exists() or second.journal is None or second.journal.closed
    finally:
        await first.stop()
    third = Node(cfg_b, NodeOptions(mappings_path=mappings, env=env))
    await third.start()  # the account is free again
    await third.stop()


def test_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    holder = textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from arbkit.runtime.account_lock import AccountLocks
        AccountLocks(Path(sys.argv[1])).acquire("kalshi", "http://127.0.0.1:1|key", {"node": "holder"})
        print("held", flush=True)
        time.sleep(60)
    """)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.Popen([sys.executable, "-c", holder, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(AccountInUse, match=rf"pid {proc.pid}, node 'holder'"):
            AccountLocks(tmp_path).acquire("kalshi", "http://127.0.0.1:1|key", {})
    finally:
        proc.kill()  # SIGKILL: no clean-up runs in the holder
        proc.wait(5)
    locks = AccountLocks(tmp_path)
    locks.acquire("kalshi", "http://127.0.0.1:1|key", {})
    assert locks.held
    locks.release()

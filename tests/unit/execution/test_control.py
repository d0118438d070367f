"""Control endpoint over real NNG sockets (ipc in tmp_path, tcp on 127.0.0.1 with a token)."""

from __future__ import annotations

import socket

import pytest
from exec_kit import T0, cross_venue_intent, drive, held

from arbkit.execution.control import ControlClient, ControlError, ControlServer
from arbkit.execution.paper import PaperConfig
from arbkit.execution.intent import Sequencing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_ipc_commands(env_factory, tmp_path):
    env = env_factory(paper=PaperConfig(latency_s=1.0))
    addr = f"ipc://{tmp_path}/ctl.ipc"
    srv = ControlServer(env.engine, addr, extra_status=lambda: {"kalshi.feed": "closed"})
    await srv.start()
    cli = ControlClient(addr, timeout_s=5)
    try:
        st = await cli.arequest("status")
        assert st["paused"] is False and st["breakers"] == {"kalshi.feed": "closed"} and st["risk"]["slots"] == 4
        assert (await cli.arequest("pause", reason="lunch")) == {"paused": True} and env.engine.paused
        assert (await cli.arequest("resume")) == {"paused": False} and not env.engine.paused
        assert (await cli.arequest("slots", n=2)) == {"slots": 2} and env.risk.slots == 2
        with pytest.raises(ControlError, match="integer"):
            await cli.arequest("slots", n="many")
        with pytest.raises(ControlError, match="no execution"):
            await cli.arequest("cancel", execution_id="nope")
        with pytest.raises(ControlError, match="unknown command"):
            await cli.arequest("reboot")
        # an execution in flight shows in status and can be canceled by id
        assert env.engine.submit(cross_venue_intent("ct-1", T0, seq=Sequencing.SEQUENTIAL)).approved
        st = await cli.arequest("status")
        assert st["in_flight"] == {"ct-1": "RUNNING"}
        assert (await cli.arequest("cancel", execution_id="ct-1")) == {"canceled": "ct-1"}
        rep = await drive(env.clock, env.engine.wait("ct-1"))
        assert rep.status.value in ("HEDGED", "ABORTED")
        out = await cli.arequest("kill", reason="drill")
        assert out["killed"] and env.risk.killswitch.tripped and env.risk.killswitch.reason == "drill"
        assert env.engine.submit(cross_venue_intent("ct-2", T0)).check == "killswitch"
        st = await cli.arequest("status")
        assert st["risk"]["killswitch"] == {"tripped": True, "reason": "drill"}
        assert st["recent_reports"][0]["execution_id"] == "ct-1"
    finally:
        await srv.close()


async def test_tcp_needs_a_token_and_checks_it(env_factory):
    env = env_factory()
    with pytest.raises(ControlError, match="token"):
        ControlServer(env.engine, "tcp://127.0.0.1:1")
    addr = f"tcp://127.0.0.1:{free_port()}"
    srv = ControlServer(env.engine, addr, token="s3cret-token")
    await srv.start()
    try:
        with pytest.raises(ControlError, match="unauthorised"):
            await ControlClient(addr, token="wrong").arequest("pause")
        assert not env.engine.paused and srv.refused == 1
        assert (await ControlClient(addr, token="s3cret-token").arequest("pause")) == {"paused": True}
    finally:
        await srv.close()


async def test_bad_requests_are_answered_not_fatal(env_factory, tmp_path):
    env = env_factory()
    srv = ControlServer(env.engine, f"ipc://{tmp_path}/c2.ipc")
    assert b"bad request" in await srv.handle_bytes(b"not json")
    assert b"bad request" in await srv.handle_bytes(b"[1, 2]")
    with pytest.raises(ControlError, match="cannot reach"):
        ControlClient(f"ipc://{tmp_path}/nobody.ipc", timeout_s=0.5).request("status")


async def test_cli_commands_against_a_live_endpoint(env_factory, tmp_path, monkeypatch):
    import asyncio

    import typer
    from typer.testing import CliRunner

    from arbkit.execution.control_cli import register

    env = env_factory()
    addr = f"ipc://{tmp_path}/cli.ipc"
    srv = ControlServer(env.engine, addr)
    await srv.start()
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    register(app)
    monkeypatch.setenv("ARBKIT_CONTROL_ADDRESS", addr)
    runner = CliRunner()
    loop = asyncio.get_running_loop()
    try:
        res = await loop.run_in_executor(None, lambda: runner.invoke(app, ["pause", "--reason", "cli"]))
        assert res.exit_code == 0 and "paused" in res.output and env.engine.paused
        res = await loop.run_in_executor(None, lambda: runner.invoke(app, ["status", "--json"]))
        assert res.exit_code == 0 and '"paused": true' in res.output
        res = await loop.run_in_executor(None, lambda: runner.invoke(app, ["status"]))
        assert res.exit_code == 0 and "paused" in res.output and "P&L today" in res.output
        res = await loop.run_in_executor(None, lambda: runner.invoke(app, ["cancel", "ghost"]))
        assert res.exit_code == 1 and "no execution" in res.output
        res = await loop.run_in_executor(None, lambda: runner.invoke(app, ["slots", "7"]))
        assert res.exit_code == 0 and env.risk.slots == 7
        res = await loop.run_in_executor(None, lambda: runner.invoke(app, ["kill"]))
        assert res.exit_code == 0 and env.risk.killswitch.tripped
    finally:
        await srv.close()


async def test_reset_sagas_and_resolve_over_ipc(env_factory, tmp_path):
    """reset re-arms a tripped switch (journaled; breakers restarted through the hook; refused
    while the daily loss limit is reached); sagas/saga/resolve show and resolve a held execution."""
    from arbkit.core.enums import Venue
    from arbkit.execution.engine import EngineConfig
    from arbkit.venues.common.http import OrderStateUnknown

    class Blind:
        """The Kalshi venue takes orders but its answers and lookups are lost."""

        def __init__(self, inner):
            self.inner, self.venue = inner, inner.venue

        def __getattr__(self, name):
            return getattr(self.inner, name)

        async def submit(self, req):
            await self.inner.submit(req)
            raise ConnectionError("read timeout")

        async def order_state(self, coid, voi=""):
            raise OrderStateUnknown("kalshi", coid, "HTTP 503 after retries")

    env0 = env_factory()
    env0.journal.close_sync()
    backends = dict(env0.backends)
    backends[Venue.KALSHI] = Blind(env0.backends[Venue.KALSHI])
    env = env_factory(clock=env0.clock, backends=backends, path=env0.path.with_name("ctl.db"),
                      config=EngineConfig(recheck_first_s=3600.0))
    restarted = []

    async def reset_breakers():
        restarted.append("kalshi.feed")
        return ["kalshi.feed"]

    addr = f"ipc://{tmp_path}/ctl3.ipc"
    srv = ControlServer(env.engine, addr, reset_breakers=reset_breakers)
    await srv.start()
    cli = ControlClient(addr, timeout_s=5)
    try:
        env.risk.killswitch.trip("breaker opened for kalshi.feed", source="breaker")
        out = await cli.arequest("reset")
        assert out == {"reset": True, "previous_reason": "breaker opened for kalshi.feed", "breakers_reset": ["kalshi.feed"]}
        assert not env.risk.killswitch.tripped and restarted == ["kalshi.feed"]
        env.journal.flush_sync(5)
        assert "KillSwitchReset" in [r.kind for r in env.journal.replay(kinds=["KillSwitchReset"])]

        assert env.engine.submit(cross_venue_intent("hd-1", T0)).approved
        saga = env.engine.sagas["hd-1"]

        await held(env, saga.execution_id)
        rows = (await cli.arequest("sagas"))["sagas"]
        assert [(r["execution_id"], bool(r["held"]), r["unknown_orders"]) for r in rows] == [("hd-1", True, ["hd-1-L1-A0"])]
        detail = await cli.arequest("saga", execution_id="hd-1")
        assert detail["held"] and {o["client_order_id"]: bool(o["unknown"]) for o in detail["orders"]} == {
            "hd-1-L0-A0": False, "hd-1-L1-A0": True}
        with pytest.raises(ControlError, match="action"):
            await cli.arequest("resolve", execution_id="hd-1", action="ignore")
        out = await cli.arequest("resolve", execution_id="hd-1", action="close", note="checked at the venue")
        assert out["resolved"] == "hd-1" and "closed" in out["result"]
        assert saga.report is not None and "hd-1" not in env.risk.in_flight
        with pytest.raises(ControlError, match="not held"):
            await cli.arequest("resolve", execution_id="hd-1", action="hedge")
    finally:
        await srv.close()


async def test_reset_refused_while_the_daily_loss_limit_is_reached(env_factory, tmp_path):
    from decimal import Decimal

    from exec_kit import make_limits

    env = env_factory(limits=make_limits(daily_loss_limit=Decimal("5")))
    env.risk.pnl_today = Decimal("-6")
    env.risk.pnl_day = env.risk.day_of(env.clock.now_ns())
    env.risk.killswitch.trip("daily loss limit", source="risk")
    srv = ControlServer(env.engine, f"ipc://{tmp_path}/ctl4.ipc")
    await srv.start()
    try:
        with pytest.raises(ControlError, match="daily loss limit is still reached"):
            await ControlClient(f"ipc://{tmp_path}/ctl4.ipc", timeout_s=5).arequest("reset")
        assert env.risk.killswitch.tripped
    finally:
        await srv.close()


async def test_status_finds_the_running_node_by_its_run_file(env_factory, tmp_path, monkeypatch):
    """No --address and no $ARBKIT_CONTROL_ADDRESS: `arbkit status` reads the run file the node's
    control server wrote (owner-only), shows a readable table (node, config, venues, positions
    without a doubled venue prefix), refuses to guess between several nodes, and forgets the
    files of dead processes."""
    import asyncio
    import json
    import os
    import stat
    import subprocess

    import typer
    from typer.testing import CliRunner

    from arbkit.execution.control import run_dir, running_nodes
    from arbkit.execution.control_cli import register

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("ARBKIT_CONTROL_ADDRESS", raising=False)
    env = env_factory()
    addr = f"ipc://{tmp_path}/node.ipc"
    srv = ControlServer(env.engine, addr, describe={"node": "desk-1", "config": "/etc/arbkit/live.toml",
                                                    "venues": {"kalshi": "sim"}, "strategies": ["cross_venue"]})
    await srv.start()
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    register(app)
    runner = CliRunner()
    loop = asyncio.get_running_loop()
    try:
        files = list(run_dir().glob("*.json"))
        assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
        assert stat.S_IMODE(run_dir().parent.stat().st_mode) == 0o700
        assert "token" not in files[0].read_text()
        res = await loop.run_in_executor(None, lambda: runner.invoke(app, ["status"]))
        assert res.exit_code == 0, res.output
        assert "desk-1" in res.output and "/etc/arbkit/live.toml" in res.output and "kalshi (sim)" in res.output
        assert "kalshi:kalshi:" not in res.output
        # a second live process announcing itself: the operator must choose
        other = subprocess.Popen(["sleep", "30"])
        try:
            (run_dir() / f"{other.pid}.json").write_text(json.dumps(
                {"pid": other.pid, "address": f"ipc://{tmp_path}/other.ipc", "started": 1.0, "node": "desk-2"}))
            res = await loop.run_in_executor(None, lambda: runner.invoke(app, ["status"]))
            assert res.exit_code == 2 and "2 arbkit nodes are running" in res.output and "desk-2" in res.output
        finally:
            other.kill()
            other.wait()
        assert [n["node"] for n in running_nodes()] == ["desk-1"]  # the dead one's file is removed
        assert not (run_dir() / f"{other.pid}.json").exists()
    finally:
        await srv.close()
    assert not list(run_dir().glob("*.json"))
    res = await loop.run_in_executor(None, lambda: runner.invoke(app, ["status"]))
    assert res.exit_code == 1 and "no running arbkit node was found" in res.output and os.environ.get("XDG_RUNTIME_DIR")

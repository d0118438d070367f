"""Control endpoint: NNG REQ/REP for the operator (status, pause, resume, cancel, slots, kill,
reset, sagas, saga, resolve).

``ipc://`` by default (the socket file's permissions are the access control); a ``tcp://``
address requires a token, checked in constant time on every request. Requests and replies are
JSON objects::

    -> {"cmd": "status" | "pause" | "resume" | "cancel" | "slots" | "kill" | "reset" | "sagas" | "saga" | "resolve",
        "args": {...}, "token": "..."}
    <- {"ok": true, "result": {...}}   or   {"ok": false, "error": "..."}

Every command that changes something is journaled by the engine (EnginePaused, SlotsChanged,
ExecutionCancelRequested, KillSwitchTripped). Tokens are never logged or echoed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import pynng

from arbkit.execution.engine import ExecutionEngine

log = logging.getLogger("arbkit.execution.control")

DEFAULT_ADDRESS = f"ipc://{os.path.join(tempfile.gettempdir(), 'arbkit-control.ipc')}"
MAX_REQUEST_BYTES = 64 * 1024


class ControlError(Exception):
    pass


# --- run files: how `arbkit status` finds a running node without --address ----------------------
# One small JSON file per running node ({pid, address, started, node, config}) in a per-user
# directory only its owner can read. The token of a tcp:// endpoint is never written here: it
# comes from ARBKIT_CONTROL_TOKEN on both sides.


def run_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR")
    root = Path(base) / "arbkit" if base and os.path.isdir(base) else Path(tempfile.gettempdir()) / f"arbkit-{os.getuid()}"
    return root / "run"


def write_run_file(address: str, info: dict[str, Any]) -> Path | None:
    """Announce this process's control address; None (logged) when the directory is unusable."""
    d = run_dir()
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(d.parent, 0o700)
        path = d / f"{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"pid": os.getpid(), "address": address, "started": time.time(), **info}, fh)
        os.replace(tmp, path)
        return path
    except OSError as exc:
        log.warning("control: run file not written (%s): `arbkit status` needs --address", exc)
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_nodes() -> list[dict[str, Any]]:
    """The run files of live processes, oldest first; stale files (dead pids) are removed."""
    out = []
    d = run_dir()
    if not d.is_dir():
        return out
    for f in d.glob("*.json"):
        try:
            info = json.loads(f.read_text())
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(pid):
            out.append(info)
        else:
            try:
                f.unlink()
            except OSError:
                pass
    return sorted(out, key=lambda i: i.get("started", 0))


def _check_address(address: str, token: str | None) -> None:
    if address.startswith("tcp://"):
        if not token:
            raise ControlError("a tcp:// control address needs a token (ipc:// is the default for one host)")
    elif not address.startswith(("ipc://", "inproc://")):
        raise ControlError(f"unsupported control address {address!r}: use ipc:// or tcp://")


class ControlServer:
    def __init__(
        self,
        engine: ExecutionEngine,
        address: str = DEFAULT_ADDRESS,
        *,
        token: str | None = None,
        extra_status: Callable[[], dict[str, Any]] | None = None,
        reset_breakers: Callable[[], Awaitable[list[str]]] | None = None,
        describe: dict[str, Any] | None = None,
    ) -> None:
        _check_address(address, token)
        self.describe = dict(describe or {})  # node name, config, modes: shown by `status`, written to the run file
        self._started = time.time()
        self._run_file: Path | None = None
        self.engine = engine
        self.address = address
        self._token = token
        self._extra_status = extra_status  # e.g. the supervisor's breaker states
        self._reset_breakers = reset_breakers  # restarts tasks whose breaker is open
        self._sock: pynng.Rep0 | None = None
        self._task: asyncio.Task | None = None
        self.requests = 0
        self.refused = 0

    async def start(self) -> None:
        self._sock = pynng.Rep0(recv_max_size=MAX_REQUEST_BYTES)
        self._sock.listen(self.address)
        self._task = asyncio.get_running_loop().create_task(self._serve(), name="control")
        if not self.address.startswith("inproc://"):
            self._run_file = write_run_file(self.address, self.describe)

    async def close(self) -> None:
        if self._run_file is not None:
            try:
                self._run_file.unlink()
            except OSError:
                pass
            self._run_file = None
        # close the socket first: a pending arecv then ends with pynng.Closed (cancelling a
        # task parked in pynng's arecv does not reliably wake it)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=2.0)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):  # noqa: BLE001
                self._task.cancel()
            self._task = None

    async def _serve(self) -> None:
        assert self._sock is not None
        while True:
            try:
                raw = await self._sock.arecv()
            except pynng.Closed:
                return
            reply = await self.handle_bytes(raw)
            try:
                await self._sock.asend(reply)
            except pynng.Closed:
                return

    async def handle_bytes(self, raw: bytes) -> bytes:
        self.requests += 1
        try:
            req = json.loads(raw)
            if not isinstance(req, dict):
                raise ValueError("request must be a JSON object")
        except ValueError as exc:
            self.refused += 1
            return _reply(False, error=f"bad request: {exc}")
        if self._token is not None and not hmac.compare_digest(str(req.get("token", "")).encode(), self._token.encode()):
            self.refused += 1
            log.warning("control: request with a bad token refused")
            return _reply(False, error="unauthorised")
        try:
            result = await self.handle(str(req.get("cmd", "")), req.get("args") or {})
        except ControlError as exc:
            return _reply(False, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - the operator gets the error, the node keeps running
            log.exception("control command failed")
            return _reply(False, error=f"{type(exc).__name__}: {exc}")
        return _reply(True, result=result)

    async def handle(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        e = self.engine
        if cmd == "status":
            st = e.status()
            st["breakers"] = self._extra_status() if self._extra_status else {}
            st["node"] = {**self.describe, "pid": os.getpid(), "uptime_s": round(time.time() - self._started, 1),
                          "python": sys.version.split()[0]}
            return st
        if cmd == "pause":
            e.pause(str(args.get("reason", "operator")))
            return {"paused": True}
        if cmd == "resume":
            e.resume()
            return {"paused": False}
        if cmd == "cancel":
            eid = args.get("execution_id")
            if not eid:
                raise ControlError("cancel needs execution_id")
            ok = await e.cancel(str(eid), str(args.get("reason", "canceled by operator")))
            if not ok:
                raise ControlError(f"no execution {eid!r} in flight")
            return {"canceled": eid}
        if cmd == "slots":
            n = args.get("n")
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise ControlError("slots needs an integer n >= 0")
            e.set_slots(n)
            return {"slots": n}
        if cmd == "kill":
            reason = str(args.get("reason", "operator kill"))
            canceled = []
            for eid, saga in list(e.sagas.items()):
                if not saga.state.is_terminal and await e.cancel(eid, f"kill: {reason}"):
                    canceled.append(eid)
            venues = await e.kill(reason)  # trips the switch and cancels every resting order we own
            return {"killed": True, "canceled": canceled, "venues": venues}
        if cmd == "reset":
            return await self._reset(str(args.get("by", "operator")))
        if cmd == "sagas":
            return {"sagas": saga_rows(e, include_done=bool(args.get("all", False)))}
        if cmd == "saga":
            eid = str(args.get("execution_id", ""))
            if eid not in e.sagas:
                raise ControlError(f"no execution {eid!r}")
            return saga_detail(e, eid)
        if cmd == "resolve":
            eid = str(args.get("execution_id", ""))
            action = str(args.get("action", ""))
            try:
                msg = await e.resolve(eid, action, by=str(args.get("by", "operator")), note=str(args.get("note", "")))
            except (KeyError, ValueError) as exc:
                raise ControlError(str(exc).strip("'\"")) from None
            return {"resolved": eid, "action": action, "result": msg}
        raise ControlError(f"unknown command {cmd!r}: status, pause, resume, cancel, slots, kill, reset, sagas, saga, resolve")

    async def _reset(self, by: str) -> dict[str, Any]:
        """Re-arm after a kill switch trip or an open breaker, once the cause is cleared: breakers
        are closed (their tasks restart: a cause still there opens them again), then the switch
        is reset (journaled). Refused while the daily loss limit is still reached."""
        e = self.engine
        lim = e.risk.limits.daily_loss_limit
        if lim is not None and e.risk.pnl_today <= -lim:
            raise ControlError(f"not reset: the daily loss limit is still reached (P&L today {e.risk.pnl_today}, limit {lim})")
        restarted = await self._reset_breakers() if self._reset_breakers is not None else []
        previous = e.risk.killswitch.reason if e.risk.killswitch.tripped else ""
        e.risk.killswitch.reset(by=by)
        return {"reset": True, "previous_reason": previous, "breakers_reset": restarted}


def saga_rows(engine: ExecutionEngine, include_done: bool = False) -> list[dict[str, Any]]:
    """One line per saga: in flight and held ones (and, with ``include_done``, reported ones)."""
    rows = []
    for eid, s in engine.sagas.items():
        if s.report is not None and not include_done:
            continue
        rows.append({
            "execution_id": eid,
            "state": s.state.value,
            "held": s.held,
            "strategy": s.intent.strategy,
            "legs": len(s.intent.legs),
            "orders": len(s.orders),
            "unknown_orders": [o.client_order_id for o in s.unknown_orders()],
            "status": s.report.status.value if s.report else "",
            "recovered": s.recovered,
        })
    return rows


def saga_detail(engine: ExecutionEngine, execution_id: str) -> dict[str, Any]:
    s = engine.sagas[execution_id]
    orders = []
    for o in s.orders.values():
        f = o.fills
        orders.append({
            "client_order_id": o.client_order_id, "purpose": o.purpose, "leg": o.leg_index, "venue": o.venue.value,
            "instrument": o.instrument.id, "side": o.side.value, "quantity": str(o.quantity), "price": str(o.price),
            "status": f.status.value, "filled": str(f.filled), "venue_order_id": f.venue_order_id,
            "unknown": o.unknown, "finished": o.finished is not None, "error": f.reject_reason or f.last_error,
        })
    residuals = [{"venue": r.venue.value, "asset": r.asset, "quantity": str(r.quantity), "dust": r.dust}
                 for r in engine.residuals(s)]
    return {
        "execution_id": execution_id, "state": s.state.value, "held": s.held, "strategy": s.intent.strategy,
        "sequencing": s.intent.sequencing.value, "stop_reason": s.stop_reason, "error": s.error,
        "cancel_requested": s.cancel_requested, "reopened": s.reopened, "recovered": s.recovered,
        "orders": orders, "residuals": residuals,
        "report": ({"status": s.report.status.value, "profit": str(s.report.profit)} if s.report else None),
    }


def _reply(ok: bool, *, result: Any = None, error: str = "") -> bytes:
    body: dict[str, Any] = {"ok": ok}
    if ok:
        body["result"] = result
    else:
        body["error"] = error
    return json.dumps(body, default=str).encode()


class ControlClient:
    """Blocking client for the CLI."""

    def __init__(self, address: str = DEFAULT_ADDRESS, *, token: str | None = None, timeout_s: float = 5.0) -> None:
        _check_address(address, token)
        self.address = address
        self._token = token
        self._timeout_ms = int(timeout_s * 1000)

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"cmd": cmd, "args": args}
        if self._token:
            body["token"] = self._token
        with pynng.Req0(recv_timeout=self._timeout_ms, send_timeout=self._timeout_ms) as sock:
            try:
                sock.dial(self.address, block=True)
                sock.send(json.dumps(body).encode())
                raw = sock.recv()
            except pynng.Timeout as exc:
                raise ControlError(f"no answer from {self.address} within {self._timeout_ms} ms") from exc
            except pynng.NNGException as exc:
                raise ControlError(f"cannot reach the node at {self.address}: {exc}") from exc
        reply = json.loads(raw)
        if not reply.get("ok"):
            raise ControlError(reply.get("error", "refused"))
        return reply.get("result") or {}

    async def arequest(self, cmd: str, **args: Any) -> dict[str, Any]:
        return await asyncio.get_running_loop().run_in_executor(None, lambda: self.request(cmd, **args))

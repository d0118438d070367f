"""``arbkit orders ...`` against a real ``arbkit sim`` subprocess on 127.0.0.1, for both venues.

The CLI runs in-process (typer's CliRunner) and, once, as a subprocess. Every outcome is checked
where it happened: at the simulator (its admin endpoint lists the account's orders, trades and
books) and in the journal (request before answer, one correlation id per order).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

from arbkit.cli import app
from arbkit.journal.store import Journal

SRC = Path(__file__).resolve().parents[2] / "src"
ARBKIT = [sys.executable, "-m", "arbkit.cli"]
VENUES = ["polymarket", "kalshi"]


# --- the simulator -----------------------------------------------------------------------------


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("orders-sim")
    info_file = d / "sim.json"
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = open(d / "sim.log", "w")
    proc = subprocess.Popen([*ARBKIT, "sim", "--venues", "polymarket,kalshi", "--scenario", "quiet", "--seed", "11",
                             "--info-file", str(info_file), "--duration", "600"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 45
        info: dict[str, Any] = {}
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"arbkit sim exited {proc.returncode}: {(d / 'sim.log').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("arbkit sim did not come up within 45 s")
            if info_file.exists() and info_file.stat().st_size:
                try:
                    info = json.loads(info_file.read_text())
                    if _get(info["admin_url"] + "/health").get("ok"):
                        break
                except (ValueError, OSError, urllib.error.URLError):
                    pass
            time.sleep(0.1)
        yield {"info": info, "info_file": info_file, "dir": d, "env": env}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def _account(sim: dict[str, Any], venue: str) -> str:
    acct = sim["info"][venue]["accounts"][0]
    return acct["address"].lower() if venue == "polymarket" else acct["key_id"]


def _market(sim: dict[str, Any], venue: str, index: int = 0) -> str:
    m = sim["info"][venue]["markets"][index]
    return m["condition_id"] if venue == "polymarket" else m["ticker"]


def _venue_orders(sim: dict[str, Any], venue: str) -> list[dict[str, Any]]:
    return _get(f"{sim['info']['admin_url']}/orders/{venue}?account={_account(sim, venue)}")


def _venue_order(sim: dict[str, Any], venue: str, venue_order_id: str) -> dict[str, Any]:
    hits = [o for o in _venue_orders(sim, venue) if o["order_id"].lower() == venue_order_id.lower()]
    assert len(hits) == 1, f"the simulator holds {len(hits)} orders with id {venue_order_id}"
    return hits[0]


def _best_ask(sim: dict[str, Any], venue: str, market: str) -> Decimal:
    book = _get(f"{sim['info']['admin_url']}/books/{venue}/{market}?outcome=YES")
    return Decimal(book["asks"][0][0])


def _best_bid(sim: dict[str, Any], venue: str, market: str) -> Decimal:
    book = _get(f"{sim['info']['admin_url']}/books/{venue}/{market}?outcome=YES")
    return Decimal(book["bids"][0][0])


# --- the CLI -----------------------------------------------------------------------------------


def _cli(sim: dict[str, Any], journal: Path | None, *args: str, target: bool = True) -> Any:
    argv = ["orders", *args]
    if target:
        argv += ["--info-file", str(sim["info_file"])]
        if journal is not None:
            argv += ["--journal", str(journal)]
    return CliRunner().invoke(app, argv)


def _json(res: Any) -> Any:
    assert res.exit_code == 0, f"exit {res.exit_code}: {res.output}"
    return json.loads(res.stdout)


def _records(journal: Path) -> list[tuple[str, str, dict[str, Any]]]:
    j = Journal.open(journal, readonly=True)
    try:
        return [(r.kind, r.correlation_id, msgspec.json.decode(r.payload)) for r in j.replay()]
    finally:
        j.close_sync()


def _size(venue: str) -> str:
    return "5"  # Polymarket's minimum order size in the simulator is 5 shares; Kalshi takes any whole count


# --- place, list, cancel --------------------------------------------------------------------------


@pytest.mark.parametrize("venue", VENUES)
def test_resting_order_placed_listed_and_canceled_at_the_venue(sim: dict[str, Any], tmp_path: Path, venue: str) -> None:
    journal = tmp_path / "j.sqlite"
    market = _market(sim, venue)
    res = _cli(sim, journal, "place", "--venue", venue, "--market", market, "--outcome", "yes", "--side", "buy",
               "--price", "0.01", "--quantity", _size(venue), "--json")
    placed = _json(res)
    assert placed["accepted"] and placed["venue_order_id"]
    coid, voi = placed["client_order_id"], placed["venue_order_id"]
    # the simulator holds it, resting, with our price and size
    o = _venue_order(sim, venue, voi)
    assert o["status"] == "OPEN", o
    assert Decimal(o["price"]) == Decimal("0.01") and Decimal(o["size"]) == Decimal(_size(venue))
    assert o["side"] == "BUY" and o["outcome"] == "YES"
    if venue == "kalshi":
        assert o["client_order_id"] == coid
    # the plan printed before sending names the order
    assert f"client order id {coid}" in res.stderr

    listed = _json(_cli(sim, journal, "list", "--venue", venue, "--json"))
    mine = [x for x in listed if x["venue_order_id"].lower() == voi.lower()]
    assert len(mine) == 1
    assert mine[0]["client_order_id"] == coid  # Polymarket: named from the journal
    assert Decimal(mine[0]["price"]) == Decimal("0.01")

    canceled = _json(_cli(sim, journal, "cancel", coid, "--venue", venue, "--json"))
    assert [c["venue_order_id"].lower() for c in canceled["canceled"]] == [voi.lower()]
    assert _venue_order(sim, venue, voi)["status"] == "CANCELED"
    assert all(x["venue_order_id"].lower() != voi.lower()
               for x in _json(_cli(sim, journal, "list", "--venue", venue, "--json")))

    # the journal: the request before the answer, under one correlation id; the cancel likewise
    recs = _records(journal)
    kinds = [k for k, _, _ in recs]
    assert kinds == ["OrderSubmitted", "OrderAccepted", "OrderCancelRequested", "OrderCanceled"], kinds
    assert recs[0][1] == recs[1][1] == placed["correlation_id"]
    assert recs[0][2]["client_order_id"] == coid and recs[0][2]["price"] == "0.01"
    assert recs[1][2]["venue_order_id"] == voi
    assert recs[2][1] == recs[3][1] == canceled["correlation_id"]
    assert recs[2][2]["venue_order_id"] == voi and recs[3][2]["client_order_id"] == coid

    # canceling it again: nothing open by that id, a clear refusal, nothing sent or journaled
    again = _cli(sim, journal, "cancel", coid, "--venue", venue)
    assert again.exit_code == 2 and "no open order" in again.stderr
    assert len(_records(journal)) == 4


@pytest.mark.parametrize("venue", VENUES)
def test_gtd_order_carries_its_expiry_to_the_venue(sim: dict[str, Any], tmp_path: Path, venue: str) -> None:
    journal = tmp_path / "j.sqlite"
    t0 = time.time()
    placed = _json(_cli(sim, journal, "place", "--venue", venue, "--market", _market(sim, venue), "--outcome", "no",
                        "--side", "buy", "--price", "0.01", "--quantity", _size(venue), "--tif", "gtd", "--expires", "10m",
                        "--json"))
    o = _venue_order(sim, venue, placed["venue_order_id"])
    assert o["status"] == "OPEN"
    # the venue stops the order when asked (Polymarket: the CLI sent 60 s more, the venue's security threshold)
    assert abs(o["expire_at_ns"] / 1e9 - (t0 + 600)) < 5, o  # whole seconds on the wire
    assert _records(journal)[0][2]["time_in_force"] == "GTD"
    _json(_cli(sim, journal, "cancel", placed["client_order_id"], "--venue", venue, "--json"))
    # and --expires without gtd (or gtd without it) is a usage error, said so
    res = _cli(sim, journal, "place", "--venue", venue, "--market", _market(sim, venue), "--outcome", "no", "--side",
               "buy", "--price", "0.01", "--quantity", _size(venue), "--tif", "gtd")
    assert res.exit_code == 2 and "--expires" in res.stderr
    if venue == "polymarket":  # the venue wants the wire expiration at least 3 minutes ahead
        res = _cli(sim, journal, "place", "--venue", venue, "--market", _market(sim, venue), "--outcome", "no", "--side",
                   "buy", "--price", "0.01", "--quantity", _size(venue), "--tif", "gtd", "--expires", "90s")
        assert res.exit_code == 2 and "at least 120 s" in res.stderr


@pytest.mark.parametrize("venue", VENUES)
def test_cancel_all_empties_the_account_at_the_venue(sim: dict[str, Any], tmp_path: Path, venue: str) -> None:
    journal = tmp_path / "j.sqlite"
    vois = []
    for i in range(2):
        placed = _json(_cli(sim, journal, "place", "--venue", venue, "--market", _market(sim, venue, i), "--outcome", "no",
                            "--side", "buy", "--price", "0.01", "--quantity", _size(venue), "--json"))
        vois.append(placed["venue_order_id"])
    assert all(_venue_order(sim, venue, v)["status"] not in ("CANCELED", "FILLED") for v in vois)
    res = _json(_cli(sim, journal, "cancel", "--all", "--venue", venue, "--json"))
    assert {c["venue_order_id"].lower() for c in res["canceled"]} >= {v.lower() for v in vois}
    assert all(_venue_order(sim, venue, v)["status"] == "CANCELED" for v in vois)
    assert [o for o in _venue_orders(sim, venue) if o["status"] not in ("CANCELED", "FILLED", "EXPIRED")] == []
    kinds = [k for k, _, _ in _records(journal)]
    assert kinds.index("OrderCancelRequested") < kinds.index("OrderCanceled")


# --- crossing orders: fills, positions, balance ---------------------------------------------------


def _tick_up(price: Decimal, tick: Decimal = Decimal("0.01")) -> Decimal:
    return min((price + Decimal("0.05")).quantize(tick, rounding=ROUND_FLOOR), Decimal("0.98"))


def _position(rows: list[dict[str, Any]], instrument_id: str) -> Decimal:
    return sum((Decimal(p["quantity"]) for p in rows if p["instrument_id"] == instrument_id), Decimal(0))


@pytest.mark.parametrize("venue", VENUES)
def test_crossing_orders_fill_and_move_positions_and_balance(sim: dict[str, Any], tmp_path: Path, venue: str) -> None:
    journal = tmp_path / "j.sqlite"
    market = _market(sim, venue, 1)
    qty = Decimal(_size(venue))
    before_bal = _json(_cli(sim, journal, "balance", "--venue", venue, "--json"))[0]
    before_pos = _json(_cli(sim, journal, "positions", "--venue", venue, "--market", market, "--json"))

    limit = _tick_up(_best_ask(sim, venue, market))
    placed = _json(_cli(sim, journal, "place", "--venue", venue, "--market", market, "--outcome", "yes", "--side", "buy",
                        "--price", str(limit), "--quantity", str(qty), "--tif", "ioc", "--json"))
    assert placed["accepted"], placed
    assert placed["status"] == "FILLED" and Decimal(placed["filled_quantity"]) == qty
    iid = placed["instrument_id"]
    # at the venue: the order filled, and a trade of ours carries it
    vo = _venue_order(sim, venue, placed["venue_order_id"])
    assert vo["status"] == "FILLED" and Decimal(vo["filled"]) == qty
    assert Decimal(vo["avg_price"]) <= limit

    # the fills were journaled with the order's correlation id, after its acceptance
    recs = _records(journal)
    kinds = [k for k, _, _ in recs]
    assert kinds[:2] == ["OrderSubmitted", "OrderAccepted"] and "OrderFilled" in kinds
    jfills = [p for k, c, p in recs if k == "OrderFilled" and c == placed["correlation_id"]]
    assert sum(Decimal(f["quantity"]) for f in jfills) == qty
    assert all(f["client_order_id"] == placed["client_order_id"] for f in jfills)

    # `fills` lists the same trades
    fills = _json(_cli(sim, journal, "fills", "--venue", venue, "--since", "10m", "--json"))
    mine = [f for f in fills if f["venue_order_id"].lower() == placed["venue_order_id"].lower()]
    assert sum(Decimal(f["quantity"]) for f in mine) == qty
    assert {f["trade_id"] for f in mine} == {f["trade_id"] for f in jfills}
    assert all(f["client_order_id"] == placed["client_order_id"] for f in mine)
    cost = sum(Decimal(f["price"]) * Decimal(f["quantity"]) for f in mine)
    fees = sum(Decimal(f["fee"]) for f in mine)

    pos = _json(_cli(sim, journal, "positions", "--venue", venue, "--market", market, "--json"))
    assert _position(pos, iid) - _position(before_pos, iid) == qty
    bal = _json(_cli(sim, journal, "balance", "--venue", venue, "--json"))[0]
    spent = Decimal(before_bal["total"]) - Decimal(bal["total"])
    assert cost <= spent <= cost + fees + Decimal("0.01"), (spent, cost, fees)

    # and back out: sell what was bought into the bid
    bid = _best_bid(sim, venue, market)
    sell_at = max((bid - Decimal("0.05")).quantize(Decimal("0.01"), rounding=ROUND_FLOOR), Decimal("0.02"))
    sold = _json(_cli(sim, journal, "place", "--venue", venue, "--market", market, "--outcome", "yes", "--side", "sell",
                      "--price", str(sell_at), "--quantity", str(qty), "--tif", "fok", "--json"))
    assert sold["accepted"] and sold["status"] == "FILLED", sold
    assert _venue_order(sim, venue, sold["venue_order_id"])["status"] == "FILLED"
    after = _json(_cli(sim, journal, "positions", "--venue", venue, "--market", market, "--json"))
    assert _position(after, iid) == _position(before_pos, iid)


# --- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("venue", VENUES)
def test_off_grid_price_and_small_size_are_refused_before_anything_is_sent(sim: dict[str, Any], tmp_path: Path,
                                                                          venue: str) -> None:
    journal = tmp_path / "j.sqlite"
    market = _market(sim, venue)
    n_before = len(_venue_orders(sim, venue))
    res = _cli(sim, journal, "place", "--venue", venue, "--market", market, "--outcome", "yes", "--side", "buy",
               "--price", "0.015", "--quantity", _size(venue))
    assert res.exit_code == 2
    assert "0.015" in res.stderr and "tick" in res.stderr and "Traceback" not in res.output
    res = _cli(sim, journal, "place", "--venue", venue, "--market", market, "--outcome", "yes", "--side", "buy",
               "--price", "0.01", "--quantity", "0.005")  # finer than either venue's 0.01 unit
    assert res.exit_code == 2
    assert "0.005" in res.stderr and ("minimum" in res.stderr or "multiple" in res.stderr)
    assert len(_venue_orders(sim, venue)) == n_before, "a refused order reached the venue"
    assert not journal.exists() or _records(journal) == [], "a refused order was journaled"


@pytest.mark.parametrize("venue", VENUES)
def test_a_client_order_id_is_never_sent_twice(sim: dict[str, Any], tmp_path: Path, venue: str) -> None:
    journal = tmp_path / "j.sqlite"
    args = ["place", "--venue", venue, "--market", _market(sim, venue), "--outcome", "yes", "--side", "buy",
            "--price", "0.01", "--quantity", _size(venue), "--client-order-id", f"manual-{venue}-1", "--json"]
    first = _json(_cli(sim, journal, *args))
    n_orders = len(_venue_orders(sim, venue))
    again = _cli(sim, journal, *args)
    assert again.exit_code == 2 and "already sent" in again.stderr and f"manual-{venue}-1" in again.stderr
    assert len(_venue_orders(sim, venue)) == n_orders
    assert [k for k, _, _ in _records(journal)] == ["OrderSubmitted", "OrderAccepted"]
    # cancel by the venue's id works as well as by ours
    c = _json(_cli(sim, journal, "cancel", first["venue_order_id"], "--venue", venue, "--json"))
    assert c["canceled"][0]["client_order_id"] == f"manual-{venue}-1"
    assert _venue_order(sim, venue, first["venue_order_id"])["status"] == "CANCELED"


@pytest.mark.parametrize("venue", VENUES)
def test_a_venue_rejection_is_journaled_and_exits_2(sim: dict[str, Any], tmp_path: Path, venue: str) -> None:
    journal = tmp_path / "j.sqlite"
    fault = {"kind": "ORDER_REJECT", "venue": venue, "times": 1, "match": _account(sim, venue),
             "message": f"injected refusal for {venue}"}
    req = urllib.request.Request(sim["info"]["admin_url"] + "/faults", data=json.dumps(fault).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    open_before = [o for o in _venue_orders(sim, venue) if o["status"] == "OPEN"]
    res = _cli(sim, journal, "place", "--venue", venue, "--market", _market(sim, venue), "--outcome", "yes", "--side",
               "buy", "--price", "0.01", "--quantity", _size(venue), "--json")
    assert res.exit_code == 2, res.output
    assert f"injected refusal for {venue}" in res.stderr and "Traceback" not in res.output
    out = json.loads(res.stdout)
    assert out["accepted"] is False and out["status"] == "REJECTED"
    assert [o for o in _venue_orders(sim, venue) if o["status"] == "OPEN"] == open_before
    recs = _records(journal)
    assert [k for k, _, _ in recs] == ["OrderSubmitted", "OrderRejected"]
    assert recs[0][1] == recs[1][1] == out["correlation_id"]
    assert f"injected refusal for {venue}" in recs[1][2]["reason"]


def test_unknown_market_and_missing_journal_are_clear_errors(sim: dict[str, Any], tmp_path: Path) -> None:
    res = _cli(sim, tmp_path / "j.sqlite", "place", "--venue", "kalshi", "--market", "NO-SUCH-MARKET", "--outcome", "yes",
               "--side", "buy", "--price", "0.5", "--quantity", "1")
    assert res.exit_code == 2 and "NO-SUCH-MARKET" in res.stderr and "Traceback" not in res.output
    res = _cli(sim, None, "place", "--venue", "kalshi", "--market", _market(sim, "kalshi"), "--outcome", "yes",
               "--side", "buy", "--price", "0.01", "--quantity", "1")
    assert res.exit_code == 2 and "journal" in res.stderr
    # a simulator that is gone: said so, not a connection traceback
    stale = tmp_path / "stale.json"
    info = json.loads(Path(sim["info_file"]).read_text())
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    info["admin_url"] = f"http://127.0.0.1:{port}"
    info["kalshi"]["rest_url"] = f"http://127.0.0.1:{port}/trade-api/v2"
    stale.write_text(json.dumps(info))
    res = CliRunner().invoke(app, ["orders", "balance", "--venue", "kalshi", "--info-file", str(stale)])
    assert res.exit_code == 2 and "simulator is not running" in res.stderr and "Traceback" not in res.output


def test_a_journal_held_by_a_running_node_is_refused_and_nothing_is_sent(sim: dict[str, Any], tmp_path: Path) -> None:
    journal = tmp_path / "node.sqlite"
    held = Journal.open(journal)  # a node's writer
    try:
        n_before = len(_venue_orders(sim, "kalshi"))
        res = _cli(sim, journal, "place", "--venue", "kalshi", "--market", _market(sim, "kalshi"), "--outcome", "yes",
                   "--side", "buy", "--price", "0.01", "--quantity", "1")
        assert res.exit_code == 2 and "in use by a running node" in res.stderr
        assert len(_venue_orders(sim, "kalshi")) == n_before
    finally:
        held.close_sync()


def test_paper_configuration_is_refused(sim: dict[str, Any]) -> None:
    root = Path(__file__).resolve().parents[2]
    res = _cli(sim, None, "balance", "--venue", "kalshi", "--config", str(root / "examples" / "paper.toml"), target=False)
    assert res.exit_code == 2 and "paper" in res.stderr


def _live_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "live.toml"
    cfg.write_text(f"""
[node]
journal_path = "{tmp_path / 'live.sqlite'}"
[venues.kalshi]
mode = "live"
rest_url = "https://127.0.0.1:9/trade-api/v2"
ws_url = "wss://127.0.0.1:9/trade-api/ws/v2"
api_key_id_env = "T_KALSHI_KEY_ID"
private_key_env = "T_KALSHI_PEM"
[risk]
max_order_notional = "10"
max_market_exposure = "10"
max_venue_exposure = "10"
max_total_exposure = "10"
daily_loss_limit = "10"
max_concurrent_executions = 1
max_book_age_ms = 1000
[risk.order_rate_limits]
kalshi = 1
""")
    return cfg


def test_live_needs_the_flag_and_a_confirmation_and_prints_the_order_first(tmp_path: Path) -> None:
    cfg = _live_config(tmp_path)
    secret = "-----BEGIN PRIVATE KEY-----\nnot-a-real-key-but-secret-all-the-same\n-----END PRIVATE KEY-----"
    env = {"T_KALSHI_KEY_ID": "key-id-1", "T_KALSHI_PEM": secret}
    args = ["orders", "place", "--venue", "kalshi", "--config", str(cfg), "--market", "KXTEST-1", "--outcome", "no",
            "--side", "sell", "--price", "0.42", "--quantity", "3", "--tif", "fok"]
    res = CliRunner().invoke(app, args, env=env)
    assert res.exit_code == 2 and "--live" in res.stderr
    # --live without --yes and without a terminal: the order is printed, then refused; no network, no journal
    res = CliRunner().invoke(app, [*args, "--live"], env=env)
    assert res.exit_code == 2, res.output
    assert "LIVE order on kalshi" in res.stderr and "SELL 3 NO of KXTEST-1" in res.stderr
    assert "limit price 0.42, quantity 3, time in force FOK" in res.stderr
    assert "confirmation" in res.stderr and "nothing was sent" in res.stderr
    assert secret not in res.output and "not-a-real-key" not in res.output
    assert not (tmp_path / "live.sqlite").exists()
    # a missing secret is named, never echoed
    res = CliRunner().invoke(app, [*args, "--live", "--yes"], env={"T_KALSHI_KEY_ID": "key-id-1"})
    assert res.exit_code == 2 and "T_KALSHI_PEM" in res.stderr
    # a cancel on a live venue needs the flag too
    cancel = CliRunner().invoke(app, ["orders", "cancel", "--all", "--venue", "kalshi", "--config", str(cfg)], env=env)
    assert cancel.exit_code == 2 and "--live" in cancel.stderr


# --- the real command line, and what the journal readers see ---------------------------------------


def test_subprocess_place_then_journal_tail_and_report_see_it(sim: dict[str, Any], tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    cfg = tmp_path / "ops.toml"
    cfg.write_text(f'[node]\njournal_path = "{journal}"\n')
    market = _market(sim, "kalshi")
    r = subprocess.run([*ARBKIT, "orders", "place", "--venue", "kalshi", "--config", str(cfg), "--info-file",
                        str(sim["info_file"]), "--market", market, "--outcome", "no", "--side", "buy", "--price", "0.01",
                        "--quantity", "2", "--json"], capture_output=True, text=True, timeout=120, env=sim["env"])
    assert r.returncode == 0, r.stderr
    placed = json.loads(r.stdout)
    o = _venue_order(sim, "kalshi", placed["venue_order_id"])
    assert o["outcome"] == "NO" and o["side"] == "BUY" and o["client_order_id"] == placed["client_order_id"]
    # the Kalshi key never reaches the output
    pem = Path(sim["info"]["kalshi"]["accounts"][0]["private_key_path"]).read_text()
    body = "".join(pem.strip().splitlines()[1:-1])[:40]
    assert body not in r.stdout + r.stderr

    t = subprocess.run([*ARBKIT, "journal", "tail", str(journal), "--json"], capture_output=True, text=True,
                       timeout=60, env=sim["env"])
    assert t.returncode == 0, t.stderr
    lines = [json.loads(x) for x in t.stdout.splitlines()]
    assert [x["kind"] for x in lines] == ["OrderSubmitted", "OrderAccepted"]
    assert {x["correlation_id"] for x in lines} == {placed["correlation_id"]}

    rep = CliRunner().invoke(app, ["report", str(journal), "--json"])
    assert rep.exit_code == 0, rep.output
    fill_rate = json.loads(rep.stdout)["fill_rate"]["by_venue"]
    kalshi = [row for row in fill_rate if row.get("venue") == "kalshi"]
    assert kalshi and kalshi[0]["submitted"] == 1 and kalshi[0]["unfilled"] == 1

    c = _json(_cli(sim, None, "cancel", placed["venue_order_id"], "--venue", "kalshi", "--config", str(cfg), "--json"))
    assert c["canceled"] and _venue_order(sim, "kalshi", placed["venue_order_id"])["status"] == "CANCELED"


# --- the live confirmation, end to end against the simulator ---------------------------------------
#
# A live configuration cannot name the simulator (live URLs must be https), so these build the
# live target in-process: the venue configuration in mode live, pointed at the simulator.


def _live_target(sim: dict[str, Any], venue: str, journal: Path) -> Any:
    from arbkit.runtime import orders_cli as oc
    from arbkit.runtime.config import VenueMode

    t = oc.resolve_target(oc.VenueName(venue), None, sim["info_file"], 0, journal)
    return oc.Target(venue=t.venue, vcfg=msgspec.structs.replace(t.vcfg, mode=VenueMode.LIVE), env=t.env,
                     journal_path=t.journal_path, source=t.source)


class _Tty:
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("venue", VENUES)
async def test_live_order_is_printed_then_sent_only_when_confirmed(sim: dict[str, Any], tmp_path: Path, venue: str,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from arbkit.runtime import orders_cli as oc

    journal = tmp_path / "j.sqlite"
    target = _live_target(sim, venue, journal)
    assert target.live
    answers: list[str] = []

    def confirm(text: str, default: bool = False, err: bool = False) -> bool:
        answers.append(text)
        return answers_to_give.pop(0)

    monkeypatch.setattr(oc.sys, "stdin", _Tty())
    monkeypatch.setattr(oc.typer, "confirm", confirm)
    args = oc.PlaceArgs(market=_market(sim, venue), outcome=oc.OutcomeName.yes, side=oc.SideName.buy,
                        price=Decimal("0.01"), quantity=Decimal(_size(venue)), tif=oc.TifName.gtc, expire_at_ns=0,
                        post_only=False, client_order_id=f"live-{venue}-1", wait_s=0)
    n_before = len(_venue_orders(sim, venue))

    with pytest.raises(oc.OrdersError, match="--live"):
        await oc.place_order(target, args, live=False, yes=False)
    # declined: printed, asked, nothing sent, nothing journaled
    answers_to_give = [False]
    with pytest.raises(oc.OrdersError, match="not confirmed"):
        await oc.place_order(target, args, live=True, yes=False)
    err = capsys.readouterr().err
    assert f"LIVE order on {venue}" in err and f"BUY {_size(venue)} YES of {_market(sim, venue)}" in err
    assert "limit price 0.01" in err and f"client order id live-{venue}-1" in err
    assert len(answers) == 1 and len(_venue_orders(sim, venue)) == n_before
    assert [k for k, _, _ in _records(journal)] == []

    # confirmed: sent and journaled
    answers_to_give = [True]
    res = await oc.place_order(target, args, live=True, yes=False)
    assert res["accepted"] and _venue_order(sim, venue, res["venue_order_id"])["status"] == "OPEN"
    assert len(answers) == 2

    # --yes: not asked, still printed
    c = await oc.cancel_orders(target, f"live-{venue}-1", False, live=True, yes=True)
    assert len(answers) == 2 and c["canceled"]
    assert f"LIVE cancel on {venue}" in capsys.readouterr().err
    assert _venue_order(sim, venue, res["venue_order_id"])["status"] == "CANCELED"
    assert [k for k, _, _ in _records(journal)] == ["OrderSubmitted", "OrderAccepted", "OrderCancelRequested",
                                                    "OrderCanceled"]

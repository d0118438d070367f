"""The HTML report rendered by a real browser (headless Chromium), offline: the page loads from
a file with networking features off, and the screenshot shows the plots."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "analytics"))
from report_journal import build_report_journal  # noqa: E402

from arbkit.analytics.html import render_html  # noqa: E402
from arbkit.analytics.report import build_report  # noqa: E402

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
                                reason="chromium not installed (apt-get install chromium)")

WIDTH, HEIGHT = 1200, 2000
# matplotlib's default colours, which the plots use for the first series (pnl line, histogram
# bars, the socket->book CDF) and the second (USDT line, book->evaluated CDF)
BLUE = (0x1F, 0x77, 0xB4)
ORANGE = (0xFF, 0x7F, 0x0E)


def screenshot(html_path: Path, png: Path, profile: Path) -> None:
    exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}",
           html_path.resolve().as_uri()]
    # its own process group: on a timeout every Chromium helper process goes with it
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError("chromium did not finish the screenshot in 90 s") from None
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]


def pixels(img) -> list[tuple[int, ...]]:
    get = getattr(img, "get_flattened_data", None) or img.getdata  # getdata is deprecated in Pillow 13
    return list(get())


def near(px: tuple[int, ...], colour: tuple[int, int, int], tol: int = 40) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(px[:3], colour))


@pytest.mark.slow
def test_report_renders_with_plots(tmp_path):
    from PIL import Image  # installed with matplotlib (its dependency)

    journal = build_report_journal(tmp_path / "journal.db")
    html_path = tmp_path / "report.html"
    html_path.write_text(render_html(build_report(journal)), encoding="utf-8")
    png = tmp_path / "shot.png"
    screenshot(html_path, png, tmp_path / "chromium-profile")

    assert png.is_file() and png.stat().st_size > 20_000, "screenshot missing or trivially small"
    img = Image.open(png).convert("RGB")
    assert img.size == (WIDTH, HEIGHT)
    assert len(img.getcolors(maxcolors=1 << 20) or []) > 50, "the page rendered as (almost) one colour"
    # The four plots sit in a 2x2 grid near the top of the page: each quadrant holds series colour.
    plots = img.crop((0, 100, WIDTH, 900))
    w, h = plots.size
    quadrants = {"pnl": (0, 0, w // 2, h // 2), "slippage": (w // 2, 0, w, h // 2),
                 "latency": (0, h // 2, w // 2, h), "edge": (w // 2, h // 2, w, h)}
    for name, box in quadrants.items():
        q = plots.crop(box)
        data = pixels(q)
        blue = sum(1 for px in data if near(px, BLUE))
        assert blue > 40, f"{name} plot shows no series (only {blue} pixels of the series colour)"
        dark = sum(1 for px in data if max(px) < 90)
        assert dark > 500, f"{name} plot has no axes/labels drawn ({dark} dark pixels)"
    # the latency CDF and the PnL plot draw more than one series
    lat = pixels(plots.crop(quadrants["latency"]))
    assert sum(1 for px in lat if near(px, ORANGE)) > 20


BAD = (0xF8, 0xD0, 0xCC)  # td.bad: a rejected order or a failed execution


def dump_dom(html_path: Path, profile: Path) -> str:
    """The page as Chromium parsed and laid it out (``--dump-dom``)."""
    exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--dump-dom",
           html_path.resolve().as_uri()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError("chromium did not dump the DOM in 90 s") from None
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


@pytest.mark.slow
def test_report_shows_fills_positions_and_capital_in_the_browser(tmp_path):
    """The fills per leg (market names, order ids), the positions, the capital locked and the
    return on capital as Chromium renders them; rejected orders are marked so an eye finds them."""
    import re

    from PIL import Image

    journal = build_report_journal(tmp_path / "journal.db")
    html_path = tmp_path / "report.html"
    html_path.write_text(render_html(build_report(journal)), encoding="utf-8")

    dom = dump_dom(html_path, tmp_path / "chromium-dom")
    fills = dom.split('id="fills-table"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", fills, flags=re.S)
    assert len(rows) == 1 + 13  # header + every order of the five executions
    cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r) for r in rows]
    e2 = [c for c in cells if c[1] == "E2"]
    assert [tuple(c[2:]) for c in e2] == [
        ("leg 0", "polymarket", "Will the test event happen? YES", "BUY", "0.4", "10/10", "0.05 pUSD", "FILLED", "",
         "E2-0-0", "v-E2-0-0"),
        ("leg 1", "kalshi", "KXTEST-26 NO", "BUY", "-", "0/10", "0 USD", "REJECTED", "insufficient balance", "E2-1-0", "-"),
        ("hedge", "polymarket", "Will the test event happen? YES", "SELL", "0.37", "10/10", "0.04 pUSD", "FILLED", "",
         "E2-0-1", "v-E2-0-1"),
    ]
    for text in ("Positions at the end of the run", "6.56 pUSD", "Capital locked until resolution", "Return on capital",
                 "-21.606%", "positive = worse than predicted"):
        assert text in dom, text

    # rendered: the rejected orders (4 in the fills) and the FAILED execution stand out in colour
    png = tmp_path / "full.png"
    tall = 6000
    exe_shot = [CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")]
    cmd = [*exe_shot, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'chromium-shot'}",
           f"--screenshot={png}", f"--window-size={WIDTH},{tall}", "--hide-scrollbars", html_path.resolve().as_uri()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError("chromium did not finish the screenshot in 90 s") from None
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    img = Image.open(png).convert("RGB")
    w, h = img.size
    bands, inside = 0, False
    for y in range(h):
        row = [img.getpixel((x, y)) for x in range(0, w, 4)]
        hit = sum(1 for px in row if near(px, BAD, tol=6)) > 5
        bands += hit and not inside
        inside = hit
    # E3 FAILED (executions table, by-status rows aside) + E2, E3, E4 x2 REJECTED legs in the fills
    assert bands >= 5, f"only {bands} highlighted rows rendered"

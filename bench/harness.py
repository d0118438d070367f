"""Shared benchmark plumbing: machine description, records, RESULTS.md upkeep.

A benchmark is a module ``bench/<name>.py`` defining::

    METHOD: str                           # how it measures, in a sentence or two
    def run(quick: bool) -> dict          # figures: {"name": value, ...}; may include "ratio_*"

Figures are measured, never asserted: targets are documented in ``TARGETS`` (optional dict of
figure -> (">=" | "<=", value)) and reported as met / not met.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
SHARED = ROOT.parent / "shared"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gib": mem_gib,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.release()}",
    }


def shared_path(*parts: str) -> Path | None:
    """A path under ../shared, or None when ../shared is absent (benchmarks then say so)."""
    p = SHARED.joinpath(*parts)
    return p if p.exists() else None


def timeit_ns(fn: Callable[[], Any], repeat: int) -> list[int]:
    """Per-call durations in ns of ``fn`` (each call timed on its own)."""
    out = []
    pc = time.perf_counter_ns
    for _ in range(repeat):
        t0 = pc()
        fn()
        out.append(pc() - t0)
    return out


def percentiles(samples_ns: list[int], points=(50, 90, 99)) -> dict[str, float]:
    s = sorted(samples_ns)
    res = {}
    for p in points:
        idx = min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))
        res[f"p{p}_us"] = round(s[idx] / 1000, 3)
    res["mean_us"] = round(statistics.fmean(s) / 1000, 3)
    return res


def try_import(name: str):
    """Import a peer library for a side-by-side run; None when it is not installed here."""
    try:
        return __import__(name)
    except Exception:  # noqa: BLE001 - a missing or broken peer only means "no ratio"
        return None


def record(name: str, method: str, figures: dict[str, Any], quick: bool, targets: dict | None = None) -> dict:
    rec: dict[str, Any] = {
        "name": name,
        "figures": figures,
        "machine": machine(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "method": method,
        "quick": quick,
    }
    if targets:
        verdict = {}
        for fig, (op, val) in targets.items():
            got = figures.get(fig)
            if isinstance(got, (int, float)):
                verdict[fig] = {"target": f"{op} {val}", "met": got >= val if op == ">=" else got <= val}
        rec["targets"] = verdict
    return rec


def update_results_md(rec: dict) -> None:
    """Replace this benchmark's section in bench/RESULTS.md with the new record."""
    name = rec["name"]
    lines = [f"## {name}", ""]
    m = rec["machine"]
    lines.append(f"- date: {rec['date']}")
    lines.append(f"- machine: {m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB, {m['implementation']} {m['python']}, {m['os']}")
    lines.append(f"- method: {rec['method']}")
    lines.append("- figures:")
    for k, v in rec["figures"].items():
        lines.append(f"  - {k}: {v}")
    if rec.get("targets"):
        lines.append("- targets:")
        for k, v in rec["targets"].items():
            lines.append(f"  - {k} {v['target']}: {'met' if v['met'] else 'NOT met'}")
    section = "\n".join(lines) + "\n"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nLatest full (non-quick) record of each benchmark, written by `python -m bench NAME`.\n\n"
    pat = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pat.sub(section + "\n", text) if pat.search(text) else text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


def emit(rec: dict, as_json: bool) -> None:
    print(f"{rec['name']}: {rec['method']}")
    for k, v in rec["figures"].items():
        print(f"  {k}: {v}")
    for k, v in rec.get("targets", {}).items():
        print(f"  target {k} {v['target']}: {'met' if v['met'] else 'NOT met'}")
    if as_json:
        print(json.dumps({k: rec[k] for k in ("name", "figures", "machine", "date")}, default=str))
    sys.stdout.flush()

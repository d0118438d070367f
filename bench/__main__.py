"""python -m bench NAME [--quick] [--json] | python -m bench --list"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from bench import harness


def available() -> list[str]:
    import bench

    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name not in ("harness", "__main__") and not m.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description="Run an arbkit benchmark and record its figures.")
    ap.add_argument("name", nargs="?", help="benchmark name (see --list), or 'all'")
    ap.add_argument("--quick", action="store_true", help="smoke mode: small sizes, keeps the benchmark working in CI")
    ap.add_argument("--json", action="store_true", help="end with one JSON line {name, figures, machine, date}")
    ap.add_argument("--list", action="store_true", help="list benchmarks")
    ap.add_argument("--no-record", action="store_true", help="do not update bench/RESULTS.md")
    args = ap.parse_args(argv)
    names = available()
    if args.list or not args.name:
        print("\n".join(names))
        return 0
    todo = names if args.name == "all" else [args.name]
    for name in todo:
        if name not in names:
            print(f"unknown benchmark {name!r}; known: {', '.join(names)}", file=sys.stderr)
            return 2
        mod = importlib.import_module(f"bench.{name}")
        figures = mod.run(quick=args.quick)
        rec = harness.record(name, mod.METHOD, figures, args.quick, getattr(mod, "TARGETS", None))
        harness.emit(rec, args.json)
        # Quick runs are smoke tests: their figures are not representative, so only full runs are kept.
        if not args.quick and not args.no_record:
            harness.update_results_md(rec)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

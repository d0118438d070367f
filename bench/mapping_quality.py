"""Mapping discovery quality on the evaluation set of real Polymarket/Kalshi market pairs."""

from __future__ import annotations

METHOD = (
    "tests/data/mapping_eval.toml: Polymarket (Gamma fields) and Kalshi (/markets fields + series "
    "settlement_sources) market pairs taken from captured venue texts (sources cited per case), each "
    "labelled true pair (with its polarity) or near miss (with the warning codes naming the difference). "
    "Discovery (arbkit.mapping.discover) runs on each pair alone and on the whole catalogue at once. "
    "recall = true pairs proposed with the right polarity and not recommended reject; near_miss_flagged = "
    "near misses not proposed or proposed with a warning naming the difference; precision = true pairs among "
    "proposals not recommended reject; unwarned_near_misses = near misses proposed without any warning; "
    "catalogue_recall = recall when every market of the set is discovered against every other. "
    "holdout_* = the same figures on tests/data/mapping_eval_holdout.toml (19 verbatim captured pairs added after "
    "the extractor was developed, in two batches scored untouched first: recall 0.33 / 1.00, near-miss flagged "
    "1.00 / 1.00, precision 0.67 / 0.75; the generic gaps they exposed were then fixed — see docs/mapping.md). "
    "all_* = both sets together. "
    "--quick runs the same sets (they are small)."
)
TARGETS = {
    "all_recall": (">=", 0.9),
    "all_near_miss_flagged": (">=", 0.9),
    "all_precision": (">=", 0.9),
    "all_unwarned_near_misses": ("<=", 0),
}


def run(quick: bool = False) -> dict:
    from arbkit.mapping.evaluate import HOLDOUT_SET, evaluate, load_cases

    dev, hold = load_cases(), load_cases(HOLDOUT_SET)
    out: dict = {}
    for prefix, cases in (("", dev), ("holdout_", hold), ("all_", dev + hold)):
        figures, _ = evaluate(cases)
        misses = figures.pop("misses")
        figures["misses"] = "; ".join(misses) if misses else "none"
        out.update({prefix + k: v for k, v in figures.items()})
    return out

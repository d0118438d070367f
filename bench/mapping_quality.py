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
    "--quick runs the same set (it is small)."
)
TARGETS = {
    "recall": (">=", 0.9),
    "near_miss_flagged": (">=", 0.9),
    "precision": (">=", 0.9),
    "unwarned_near_misses": ("<=", 0),
}


def run(quick: bool = False) -> dict:
    from arbkit.mapping.evaluate import evaluate, load_cases

    figures, _ = evaluate(load_cases())
    misses = figures.pop("misses")
    figures["misses"] = "; ".join(misses) if misses else "none"
    return figures

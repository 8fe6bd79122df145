"""A model of the 28 GoEmotions labels read as Ekman groups: its dev and test probabilities grouped
(``data.ekman.group_probabilities``) and scored as two run folders, ``<name>_grouped_single`` / ``_grouped_multi``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from src_helpers.data.ekman import group_probabilities
from src_helpers.data.labels import EKMAN, GOEMOTIONS
from src_helpers.data.textio import read_json
from src_helpers.evaluation.results import TARGETS, RunResult, scored, targets
from src_helpers.training import write_run

GROUPING = {"single": "primary group: the group of the most probable emotion, max(p) normalized",
            "multi": "a group is present when any of its emotions is: noisy-OR, 1 - prod(1 - p)"}


def grouped_name(fine_run: str, target: str) -> str:
    """``goemotions_<name>_multi`` -> ``<name>_grouped_single`` / ``<name>_grouped_multi``."""
    return f"{fine_run.removeprefix(GOEMOTIONS.name + '_').removesuffix('_multi')}_grouped_{target}"


def ekman_runs(fine: RunResult, splits: dict[str, pd.DataFrame], runs_dir: str | Path) -> dict[str, RunResult]:
    """The Ekman single- and multi-label runs of a finished fine-label run, each chosen on dev as any run is (the
    multi-label threshold on dev), written next to it; ``{run name: result}``."""
    if fine.labels != GOEMOTIONS or fine.target != "multi":
        raise ValueError(f"run {fine.name!r} predicts the {fine.labels.name!r} label set ({fine.target}-label): "
                         f"grouping reads a multi-label model of the {GOEMOTIONS.name!r} labels")
    if fine.dev_probs is None:
        raise ValueError(f"run {fine.name!r} has no dev probabilities: the groups' threshold is chosen on dev")
    ids = fine.extra.get("test_ids")
    if ids is not None and ids != splits["test"]["comment_id"].astype(str).tolist():
        raise ValueError(f"run {fine.name!r}: its stored test ids are not these test rows (in this order)")
    config = fine.config if isinstance(fine.config, dict) else _written_config(fine)
    out = {}
    for target in TARGETS:
        probs = {s: group_probabilities(getattr(fine, f"{s}_probs"), fine.labels.classes, target)
                 for s in ("dev", "test")}
        name = grouped_name(fine.name, target)
        y = {s: targets(splits[s], target) for s in ("dev", "test")}
        result = RunResult(name=name, run_dir=Path(runs_dir) / name, config=config,
                           **scored(y["dev"], probs["dev"], y["test"], probs["test"], target, EKMAN))
        meta = {k: config[k] for k in ("model", "ft", "data", "result", "experiment") if k in config}
        meta |= {"target": target, "labels": EKMAN.name, "grouped_from": fine.name, "grouping": GROUPING[target]}
        out[name] = write_run(result, meta, splits, fine.history.to_dict("records"))
    return out


def _written_config(fine: RunResult) -> dict:
    """The config.json of ``fine``'s run folder (a freshly trained result holds its trainer's settings object, not
    the record that names its experiment), or {} for a result never written."""
    path = Path(fine.run_dir) / "config.json" if fine.run_dir else None
    return read_json(path) if path is not None and path.is_file() else {}

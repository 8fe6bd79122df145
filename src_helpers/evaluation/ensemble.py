"""An ensemble of finished runs, chosen on dev by the greedy forward selection with replacement of Caruana et al.
(2004, "Ensemble selection from libraries of models"), evaluated once on test and written as a run folder.

Single-label: the argmax of the weighted mean of the members' probabilities. Multi-label: the weighted mean of their
sigmoid probabilities at per-class thresholds chosen on dev (``choose_threshold(per_class=True)``: each class its
best dev F1); each selection step is scored at thresholds chosen on the same dev rows, so the dev score is
optimistic and test is the honest number."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score

from src_helpers.config import portable_path
from src_helpers.evaluation import comparison
from src_helpers.evaluation.metrics import choose_threshold, macro_f1, threshold_predictions
from src_helpers.evaluation.results import RunResult, check_target, predictions, report
from src_helpers.experiments.run_folders import RecordError, _json_default, _same, load_result, load_run, save_run
from src_helpers.validation import check_choice

SCORES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"macro_f1": macro_f1, "accuracy": accuracy_score}
SPLITS = ("dev", "test")


@dataclass(frozen=True, eq=False, repr=False)
class Ensemble:
    """Weighted average of the probabilities of ``runs``; ``dev_path``: one row per selection step."""

    runs: tuple[RunResult, ...]
    weights: tuple[float, ...]
    dev_path: pd.DataFrame
    metric: str = "macro_f1"

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.runs)

    @property
    def target(self) -> str:
        return self.runs[0].target

    @cached_property
    def thresholds(self) -> np.ndarray | None:
        """Multi-label: the per-class thresholds chosen on the ensemble's dev probabilities; single-label: None."""
        return _on_dev(np.asarray(self.runs[0].y_dev), self.predict_proba("dev"), self.target)[1]

    def __repr__(self) -> str:
        weights = ", ".join(f"{m}: {w:.3f}" for m, w in zip(self.members, self.weights, strict=True))
        return f"Ensemble({{{weights}}}, metric={self.metric!r})"

    def predict_proba(self, split: str) -> np.ndarray:
        """The weighted mean of the members' ``split`` ("dev" or "test") probabilities."""
        check_choice("split", split, SPLITS)
        return sum(w * getattr(r, f"{split}_probs") for r, w in zip(self.runs, self.weights, strict=True))


def _on_dev(y_dev: np.ndarray, probs: np.ndarray, target: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Dev predictions: argmax (single), or at per-class thresholds chosen on these dev rows (multi, returned too)."""
    if target == "single":
        return probs.argmax(1), None
    thresholds = choose_threshold(y_dev, probs, per_class=True)
    return threshold_predictions(probs, thresholds), thresholds


def _check_runs(results: Sequence[RunResult]) -> list[RunResult]:
    """The runs, or a ``ValueError`` naming one that cannot join (one target, dev predictions, same rows, no
    ensemble)."""
    runs = list(results)
    if not runs:
        raise ValueError("select_ensemble needs at least one run")
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"run names must be unique, got {names}")
    first = runs[0]
    for r in runs:
        if r.target != first.target:
            raise ValueError(f"runs {first.name!r} and {r.name!r} have different targets ({first.target}, {r.target})")
        if isinstance(r.config, dict) and r.config.get("model") == comparison.ENSEMBLE:
            raise ValueError(f"run {r.name!r} is an ensemble: an ensemble never joins another one")
        if r.y_test is None:
            raise ValueError(f"run {r.name!r} has no test labels (y_test)")
        if r.dev_probs is None or r.y_dev is None:
            raise ValueError(f"run {r.name!r} has no dev predictions (written before runs stored them): the "
                             "ensemble is chosen on dev, leave it out or re-run it")
        if r.labels != first.labels:
            raise ValueError(f"runs {first.name!r} and {r.name!r} predict different label sets "
                             f"({first.labels.name}, {r.labels.name})")
        for split in SPLITS:
            y, y0 = getattr(r, f"y_{split}"), getattr(first, f"y_{split}")
            if not np.array_equal(y, y0):
                raise ValueError(f"runs {first.name!r} and {r.name!r} are not scored on the same {split} rows "
                                 f"(y_{split} differs: {len(y0)} and {len(y)} rows)")
            probs = getattr(r, f"{split}_probs")
            if np.shape(probs) != (len(y0), len(first.labels.classes)):
                raise ValueError(f"run {r.name!r}: {split}_probs of shape {np.shape(probs)}, expected "
                                 f"({len(y0)}, {len(first.labels.classes)})")
            if split == "dev" and not np.isfinite(np.asarray(probs, dtype=float)).all():  # what chooses
                raise ValueError(f"run {r.name!r}: dev_probs hold NaN or infinite values (a broken run): leave it "
                                 "out of the ensemble")
            ids, ids0 = r.extra.get(f"{split}_ids"), first.extra.get(f"{split}_ids")
            if ids is not None and ids0 is not None and list(ids) != list(ids0):
                raise ValueError(f"runs {first.name!r} and {r.name!r} have different {split} ids (or order)")
    return runs


def select_ensemble(results: Sequence[RunResult], max_size: int = 20, metric: str = "macro_f1") -> Ensemble:
    """Each of ``max_size`` steps adds the run giving the best dev ``metric`` of the averaged probabilities
    (multi-label: at per-class thresholds chosen on dev); the ensemble is the best prefix (the shortest on ties),
    weighted by each member's share of the picks."""
    check_choice("metric", metric, SCORES)
    if not isinstance(max_size, int) or max_size < 1:
        raise ValueError(f"max_size must be a positive integer, got {max_size!r}")
    runs = _check_runs(results)
    score, y_dev = SCORES[metric], np.asarray(runs[0].y_dev)
    dev = [np.asarray(r.dev_probs, dtype=float) for r in runs]
    total, picks, path = np.zeros_like(dev[0]), [], []
    for step in range(1, max_size + 1):
        scores = [score(y_dev, _on_dev(y_dev, (total + p) / step, runs[0].target)[0]) for p in dev]
        best = int(np.argmax(scores))  # the first of equal scores
        total += dev[best]
        picks.append(best)
        path.append({"step": step, "added": runs[best].name, "score": float(scores[best])})
    dev_path = pd.DataFrame(path)
    size = int(dev_path["score"].to_numpy().argmax()) + 1  # the shortest best prefix
    dev_path["kept"] = dev_path["step"] <= size
    order = list(dict.fromkeys(picks[:size]))
    counts = np.bincount(picks[:size], minlength=len(runs))
    return Ensemble(runs=tuple(runs[i] for i in order), weights=tuple(float(counts[i] / size) for i in order),
                    dev_path=dev_path, metric=metric)


def cross_fitted_score(results: Sequence[RunResult], max_size: int = 20, metric: str = "macro_f1", folds: int = 2,
                       seed: int = 0) -> float:
    """The dev ``metric`` of the selection procedure without its optimism: dev is split into ``folds`` parts
    (stratified by class for single-label); each part is predicted by the ensemble (members, weights, multi-label
    thresholds) chosen on the other parts, and the pooled predictions are scored once. Comparable with a single
    model's dev score, unlike the selected ensemble's own (chosen on the rows it is scored on)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    runs = _check_runs(results)
    y, target = np.asarray(runs[0].y_dev), runs[0].target
    splitter = (StratifiedKFold if target == "single" else KFold)(folds, shuffle=True, random_state=seed)
    pred = np.zeros_like(y)
    for chosen_on, scored_on in splitter.split(np.zeros(len(y)), y if target == "single" else None):
        part = [replace(r, dev_probs=np.asarray(r.dev_probs)[chosen_on], y_dev=y[chosen_on], extra={}) for r in runs]
        ens = select_ensemble(part, max_size, metric)
        weights = dict(zip(ens.members, ens.weights, strict=True))
        probs = sum(w * np.asarray(r.dev_probs)[scored_on] for r in runs if (w := weights.get(r.name)))
        pred[scored_on] = probs.argmax(1) if target == "single" else threshold_predictions(probs, ens.thresholds)
    return float(SCORES[metric](y, pred))


def ensemble_result(ens: Ensemble, name: str | None = None) -> RunResult:
    """The ensemble as a ``RunResult`` (default name ``ensemble_<target>``); ``config`` records the members, weights,
    metric, selection path and (multi-label) the per-class thresholds chosen on dev."""
    first, target, thresholds = ens.runs[0], ens.target, ens.thresholds
    probs, y = {s: ens.predict_proba(s) for s in SPLITS}, {"dev": first.y_dev, "test": first.y_test}
    reports = {s: report(y[s], probs[s], target, thresholds, first.labels) for s in SPLITS}
    config = {"model": comparison.ENSEMBLE, "target": target, "metric": ens.metric, "max_size": len(ens.dev_path),
              "members": dict(zip(ens.members, ens.weights, strict=True)),
              "thresholds": None if thresholds is None else dict(zip(first.labels.classes, thresholds.tolist(),
                                                                     strict=True)),
              "selection": ens.dev_path.to_dict("records"),
              "data": first.config.get("data") if isinstance(first.config, dict) else None}
    return RunResult(name=name or f"ensemble_{target}", config=config, target=target, labels=first.labels,
                     dev=reports["dev"], test=reports["test"], threshold=reports["dev"].get("threshold"),
                     dev_probs=probs["dev"], dev_pred=predictions(probs["dev"], target, thresholds), y_dev=first.y_dev,
                     test_probs=probs["test"], test_pred=predictions(probs["test"], target, thresholds),
                     y_test=first.y_test, extra={k: v for k, v in first.extra.items() if k in ("dev_ids", "test_ids")})


def candidates(runs_root: str | Path, target: str) -> tuple[list[str], dict[str, str]]:
    """The run folders of ``runs_root`` that may join a ``target`` ensemble (GoEmotions, full train split, seed 0:
    ``comparison.left_out_by``; dev predictions stored; no ensemble) and ``{run: why not}`` for the others of that
    target."""
    table = comparison.catalog(runs_root)
    names, left_out = [], {}
    for name, row in table[table["target"] == check_target(target)].iterrows():
        why = comparison.left_out_by(row) or ("an ensemble (never a member)" if row["family"] == "ensemble" else
                                              None if row["has_dev"] else "no dev predictions stored")
        if why:
            left_out[name] = why
        else:
            names.append(name)
    return names, left_out


def _jsonable(obj: object) -> object:
    return json.loads(json.dumps(obj, default=_json_default))


def write_ensemble_run(runs_root: str | Path, target: str, names: Iterable[str] | None = None, max_size: int = 20,
                       metric: str = "macro_f1", name: str | None = None,
                       overwrite: bool = False) -> tuple[Ensemble, Path]:
    """Choose an ensemble on dev from the run folders ``names`` of ``runs_root`` (default: ``candidates``) and write
    it as the run folder ``runs_root/<name>`` (default ``ensemble_<target>``). A folder that holds the same choice and
    scores is left as it is; one holding another is a ``RecordError`` unless ``overwrite`` (then it is replaced)."""
    check_target(target)
    names = list(candidates(runs_root, target)[0] if names is None else names)
    if len(names) < 2:
        raise ValueError(f"an ensemble needs at least two {target}-label runs with dev predictions in {runs_root}, "
                         f"got {names} (ensemble.candidates lists the runs left out and why)")
    runs = [load_result(Path(runs_root) / n) for n in names]
    if wrong := [r.name for r in runs if r.target != target]:
        raise ValueError(f"runs {wrong} are not {target}-label runs")
    ens = select_ensemble(runs, max_size, metric)
    run_dir = Path(runs_root) / (name or f"ensemble_{target}")
    result = ensemble_result(ens, run_dir.name)
    config, metrics = _jsonable(result.config), _jsonable({"dev": result.dev, "test": result.test})
    if (run_dir / "metrics.json").is_file():
        stored = load_run(run_dir)
        if stored.config.get("model") != comparison.ENSEMBLE:
            raise ValueError(f"{portable_path(run_dir)} is the run folder of another model, not of an ensemble: "
                             "give the ensemble another name")
        if _same({k: stored.config.get(k) for k in config}, config) and _same(stored.metrics, metrics):
            return ens, run_dir
        if not overwrite:
            raise RecordError(f"{portable_path(run_dir)} holds another ensemble (members {stored.config.get('members')}"
                              f", now {config['members']}; or other scores): nothing was written. Pass "
                              "overwrite=True to replace it.")
        shutil.rmtree(run_dir)
    split = {s: {"ids": result.extra.get(f"{s}_ids"), "y_true": getattr(result, f"y_{s}"),
                 "y_pred": getattr(result, f"{s}_pred"), "probs": getattr(result, f"{s}_probs")} for s in SPLITS}
    save_run(run_dir, config, metrics, names=result.labels.classes, dev=split["dev"], **split["test"])
    return ens, run_dir

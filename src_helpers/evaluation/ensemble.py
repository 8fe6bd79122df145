"""An ensemble of finished single-label runs, chosen on dev by the greedy forward selection with replacement of
Caruana et al. (2004, "Ensemble selection from libraries of models") and evaluated once on test."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score

from src_helpers.evaluation.metrics import macro_f1
from src_helpers.evaluation.results import RunResult, evaluate, require_single
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

    def __repr__(self) -> str:
        weights = ", ".join(f"{m}: {w:.3f}" for m, w in zip(self.members, self.weights, strict=True))
        return f"Ensemble({{{weights}}}, metric={self.metric!r})"

    def predict_proba(self, split: str) -> np.ndarray:
        """The weighted mean of the members' ``split`` ("dev" or "test") probabilities."""
        check_choice("split", split, SPLITS)
        return sum(w * getattr(r, f"{split}_probs") for r, w in zip(self.runs, self.weights, strict=True))


def _check_runs(results: Sequence[RunResult]) -> list[RunResult]:
    """The runs, or a ``ValueError`` naming one that cannot join (single-label, dev predictions, same rows)."""
    runs = list(results)
    if not runs:
        raise ValueError("select_ensemble needs at least one run")
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"run names must be unique, got {names}")
    first = runs[0]
    for r in runs:
        require_single(r, "only single-label runs can join an ensemble")
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
        ids, ids0 = r.extra.get("test_ids"), first.extra.get("test_ids")
        if ids is not None and ids0 is not None and list(ids) != list(ids0):
            raise ValueError(f"runs {first.name!r} and {r.name!r} have different test ids (or order)")
    return runs


def select_ensemble(results: Sequence[RunResult], max_size: int = 20, metric: str = "macro_f1") -> Ensemble:
    """Each of ``max_size`` steps adds the run giving the best dev ``metric`` of the averaged probabilities; the
    ensemble is the best prefix (the shortest on ties), weighted by each member's share of the picks."""
    check_choice("metric", metric, SCORES)
    if not isinstance(max_size, int) or max_size < 1:
        raise ValueError(f"max_size must be a positive integer, got {max_size!r}")
    runs = _check_runs(results)
    score, y_dev = SCORES[metric], np.asarray(runs[0].y_dev)
    dev = [np.asarray(r.dev_probs, dtype=float) for r in runs]
    total, picks, path = np.zeros_like(dev[0]), [], []
    for step in range(1, max_size + 1):
        scores = [score(y_dev, ((total + p) / step).argmax(1)) for p in dev]
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


def ensemble_result(ens: Ensemble, name: str = "ensemble") -> RunResult:
    """The ensemble as a single-label ``RunResult``; ``config`` names the members and weights."""
    first = ens.runs[0]
    dev_probs, test_probs = ens.predict_proba("dev"), ens.predict_proba("test")
    ev = evaluate(first.y_dev, dev_probs, first.y_test, test_probs, "single", first.labels)
    config = {"model": "ensemble", "target": "single", "metric": ens.metric,
              "members": dict(zip(ens.members, ens.weights, strict=True))}
    extra = {"test_ids": first.extra["test_ids"]} if "test_ids" in first.extra else {}
    return RunResult(name=name, config=config, target="single", labels=first.labels, dev=ev.dev, test=ev.test,
                     dev_probs=dev_probs, dev_pred=ev.dev_pred, y_dev=first.y_dev, test_probs=test_probs,
                     test_pred=ev.test_pred, y_test=first.y_test, extra=extra)

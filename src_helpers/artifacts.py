"""Run folders: what every model run leaves for later notebooks (config, metrics, history, predictions).

Layout of ``<runs>/<name>/``: ``config.json``, ``metrics.json`` (``{"dev": ..., "test": ...}``),
``history.csv`` (one row per epoch, optional), ``test_predictions.csv.gz`` (ids, truth, prediction and
one probability column per class) and ``dev_predictions.csv.gz`` (the same for dev; runs written before it
existed have none), and ``evaluations/<name>.json``: reports of the model on other data (``save_evaluation``, e.g.
the cross-domain scores of ``cross_domain``). The classes are the label set's that ``config.json`` names
(``"labels": "dair"``), Ekman's when it names none. Checkpoints live in ``<name>/checkpoints/`` and are git-ignored.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .config import paths_for, portable_path
from .ekman import EKMAN_LABELS
from .evaluation import RunResult
from .labels import LabelSet, label_set


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n", encoding="utf-8")


@dataclass
class Run:
    """A loaded run folder."""

    path: Path
    config: dict
    metrics: dict
    history: pd.DataFrame | None
    predictions: pd.DataFrame | None
    dev_predictions: pd.DataFrame | None = None  # None for runs written before dev predictions were stored
    evaluations: dict[str, dict] = field(default_factory=dict)  # evaluations/<name>.json by name

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def labels(self) -> LabelSet:
        """The label set the run predicts (``config.json``'s ``labels``; Ekman's when it names none)."""
        return label_set(self.config.get("labels"))

    def table(self, split: str = "test") -> pd.DataFrame:
        """The stored predictions of ``split`` ("test" or "dev"); ``FileNotFoundError`` when the run has none."""
        table = {"test": self.predictions, "dev": self.dev_predictions}[split]
        if table is None:
            raise FileNotFoundError(f"{self.path}: no {split}_predictions.csv.gz")
        return table

    def probs(self, names: Sequence[str] | None = None, split: str = "test") -> np.ndarray:
        """The stored probabilities of ``split``, one column per class of ``names`` (the run's classes)."""
        table = self.table(split)
        columns = [f"prob_{n}" for n in (self.labels.classes if names is None else names)]
        missing = [c for c in columns if c not in table]
        if missing:
            raise KeyError(f"{self.path}: {split}_predictions.csv.gz has no {missing} (its columns: "
                           f"{list(table.columns)})")
        return table[columns].to_numpy()

    def pred(self, split: str = "test", names: Sequence[str] | None = None, column: str = "y_pred") -> np.ndarray:
        """Stored predictions (``column="y_true"``: the truth): class ids (single-label) or multi-hot rows
        (multi-label, ``"0 5"`` in the file) over ``names`` (the run's classes)."""
        values = self.table(split)[column]
        if self.config.get("target") != "multi":
            return values.to_numpy().astype(int)
        out = np.zeros((len(values), len(self.labels.classes if names is None else names)), dtype=int)
        for r, s in enumerate(values.astype(str)):
            out[r, [int(x) for x in s.split()]] = 1
        return out

    def result(self) -> RunResult:
        """The run as a ``RunResult`` (no model; ``dev_*`` None when the run stored no dev predictions);
        ``extra["test_ids"]`` holds the test ids in stored order."""
        has_dev = self.dev_predictions is not None
        return RunResult(name=self.name, run_dir=self.path, config=self.config,
                         target=self.config.get("target", "single"), labels=self.labels, dev=self.metrics["dev"],
                         test=self.metrics["test"], threshold=self.metrics["dev"].get("threshold"),
                         dev_probs=self.probs(split="dev") if has_dev else None,
                         dev_pred=self.pred("dev") if has_dev else None,
                         y_dev=self.pred("dev", column="y_true") if has_dev else None,
                         test_probs=self.probs(), test_pred=self.pred(), y_test=self.pred(column="y_true"),
                         history=self.history if self.history is not None else pd.DataFrame(),
                         extra={"test_ids": self.predictions["id"].astype(str).tolist(),
                                "evaluations": self.evaluations})


def save_predictions(path: Path, probs: np.ndarray, ids: Sequence[str] | None = None,
                     y_true: np.ndarray | None = None, y_pred: np.ndarray | None = None,
                     names: Sequence[str] = EKMAN_LABELS) -> Path:
    """One split's predictions table (rows in data order): id, y_true, y_pred, ``prob_<class>`` columns."""
    probs = np.asarray(probs)
    n = len(probs)
    if any(a is not None and len(a) != n for a in (ids, y_true, y_pred)):
        raise ValueError(f"{path.name}: ids, y_true, y_pred and probs must have the same number of rows")
    table = pd.DataFrame({"id": list(ids) if ids is not None else range(n)})
    for label, arr in (("y_true", y_true), ("y_pred", y_pred)):
        if arr is not None:
            arr = np.asarray(arr)
            table[label] = [" ".join(map(str, np.flatnonzero(r))) for r in arr] if arr.ndim == 2 else arr
    for i, name in enumerate(names):
        table[f"prob_{name}"] = np.round(probs[:, i], 5)
    # mtime=0: the same predictions give the same bytes (no churn when a finished run is re-read)
    table.to_csv(path, index=False, compression={"method": "gzip", "mtime": 0})
    return path


OVERWRITE_ENV = "SRC_HELPERS_OVERWRITE_RESULTS"  # "1": a run may replace a recorded run's other metrics


class RecordError(RuntimeError):
    """A run would replace the metrics of a run folder of the record with other numbers."""


def _same(a: object, b: object) -> bool:
    """Equal JSON values, floats within a relative 1e-9."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return a == b


def check_record(run_dir: str | Path, metrics: dict) -> None:
    """Refuse (``RecordError``) to write ``metrics`` over a run folder of the record (``paths_for("full").runs``)
    whose stored ``metrics.json`` holds other numbers for the same splits, unless ``$SRC_HELPERS_OVERWRITE_RESULTS``
    is ``1``. The same numbers again (a re-run, a finished run read back) are fine."""
    run_dir = Path(run_dir).absolute()
    stored_file = run_dir / "metrics.json"
    if not stored_file.is_file() or not run_dir.is_relative_to(paths_for("full").runs.absolute()):
        return
    stored = json.loads(stored_file.read_text(encoding="utf-8"))
    new = json.loads(json.dumps(metrics, default=_json_default))
    changed = [k for k in new if k in stored and not _same(stored[k], new[k])]
    if not changed or os.environ.get(OVERWRITE_ENV) == "1":
        return
    diff = "; ".join(f"{k} {m} {stored[k].get(m)} stored, {new[k].get(m)} new" for k in changed
                     for m in ("accuracy", "macro_f1") if isinstance(stored[k], dict) and m in stored[k])
    raise RecordError(f"{portable_path(run_dir)}: the recorded run holds other {'/'.join(changed)} metrics "
                      f"({diff or 'see metrics.json'}); nothing was written. To replace the recorded run, set "
                      f"{OVERWRITE_ENV}=1 (pipeline: --overwrite-results).")


def save_run(run_dir: str | Path, config: dict, metrics: dict, history: Sequence[dict] | None = None,
             ids: Sequence[str] | None = None, y_true: np.ndarray | None = None,
             y_pred: np.ndarray | None = None, probs: np.ndarray | None = None,
             names: Sequence[str] = EKMAN_LABELS, dev: dict | None = None) -> Path:
    """Write a run folder (creating it); arrays are test-split rows in data order. ``dev``: the same for the
    dev split as keyword arguments of ``save_predictions`` (``probs``, ``ids``, ``y_true``, ``y_pred``).
    A run folder of the record is never given other metrics without being asked (``check_record``)."""
    run_dir = Path(run_dir)
    check_record(run_dir, metrics)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", config)
    write_json(run_dir / "metrics.json", metrics)
    if history:
        pd.DataFrame(list(history)).to_csv(run_dir / "history.csv", index=False)
    if probs is not None:
        save_predictions(run_dir / "test_predictions.csv.gz", probs, ids, y_true, y_pred, names)
    if dev is not None:
        save_predictions(run_dir / "dev_predictions.csv.gz", names=names, **dev)
    return run_dir


def load_run(run_dir: str | Path) -> Run:
    run_dir = Path(run_dir)
    if not (run_dir / "metrics.json").exists():
        raise FileNotFoundError(f"{run_dir}: not a run folder (no metrics.json)")

    def maybe_csv(name: str) -> pd.DataFrame | None:
        p = run_dir / name
        return pd.read_csv(p, keep_default_na=False) if p.exists() else None

    evaluations = {p.stem: json.loads(p.read_text(encoding="utf-8"))
                   for p in sorted((run_dir / EVALUATIONS).glob("*.json"))}
    return Run(run_dir, json.loads((run_dir / "config.json").read_text()),
               json.loads((run_dir / "metrics.json").read_text()),
               maybe_csv("history.csv"), maybe_csv("test_predictions.csv.gz"), maybe_csv("dev_predictions.csv.gz"),
               evaluations)


EVALUATIONS = "evaluations"


def save_evaluation(run_dir: str | Path, name: str, report: dict) -> Path:
    """Store a report of the run's model on other data (e.g. ``cross_domain.ekman_model_on_dair``) as
    ``<run_dir>/evaluations/<name>.json`` (replacing one of that name); ``load_run(...).evaluations[name]`` reads it."""
    run_dir = Path(run_dir)
    if not (run_dir / "metrics.json").exists():
        raise FileNotFoundError(f"{run_dir}: not a run folder (no metrics.json) to store evaluation {name!r} in")
    if not name or Path(name).name != name or name.startswith("."):
        raise ValueError(f"evaluation name must be a plain file name, got {name!r}")
    path = run_dir / EVALUATIONS / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    write_json(path, report)
    return path


def load_result(run_dir: str | Path) -> RunResult:
    """A finished run folder as a ``RunResult`` (see ``Run.result``)."""
    return load_run(run_dir).result()


def summarize_runs(runs_root: str | Path) -> pd.DataFrame:
    """One row per run under ``runs_root``: headline dev/test numbers (missing ones left empty)."""
    rows = []
    for metrics_file in sorted(Path(runs_root).glob("*/metrics.json")):
        run = load_run(metrics_file.parent)
        row = {"run": run.name, "model": run.config.get("model", run.name), "target": run.config.get("target")}
        for split in ("dev", "test"):
            for key in ("accuracy", "macro_f1", "micro_f1"):
                value = run.metrics.get(split, {}).get(key)
                if value is not None:
                    row[f"{split}_{key}"] = value
        rows.append(row)
    return pd.DataFrame(rows)


HEADLINE_PREFIX = ".headline_"


def record_headline(notebooks_out: str | Path, notebook: str, scores: dict[str, float]) -> Path:
    """Leave the notebook's headline scores for the runner, which puts them in the executed file's name.
    A second call in the same run adds to (or updates) the scores of the first."""
    path = Path(notebooks_out) / f"{HEADLINE_PREFIX}{notebook}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    earlier = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    write_json(path, {**earlier, **scores})
    return path

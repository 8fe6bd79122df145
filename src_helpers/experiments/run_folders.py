"""Run folders: what every model run leaves for later notebooks; ``load_run`` reads one whole or raises a
``RunFolderError`` naming the folder and the damaged file."""

from __future__ import annotations

import json
import math
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from src_helpers.config import paths_for, portable_path
from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.data.labels import LabelSet, label_set, label_set_of
from src_helpers.evaluation.results import RunResult

FORMAT_VERSION = 2  # config.json's layout; 1: every layout before it carried a version
MIGRATION = "python -m tools.migrate_run_folders"
OVERWRITE_ENV = "SRC_HELPERS_OVERWRITE_RESULTS"  # "1": a run may replace a recorded run's other metrics
EVALUATIONS = "evaluations"
HEADLINE_PREFIX = ".headline_"


def _json_default(o: object) -> object:
    if isinstance(o, np.generic | np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n", encoding="utf-8")


@dataclass
class Run:
    """A loaded run folder."""

    path: Path
    config: dict
    metrics: dict
    history: pd.DataFrame | None
    predictions: pd.DataFrame | None
    dev_predictions: pd.DataFrame | None = None  # None for runs that made no dev predictions
    evaluations: dict[str, dict] = field(default_factory=dict)  # evaluations/<name>.json by name

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def labels(self) -> LabelSet:
        """The label set the run predicts (``config.json``'s ``labels``)."""
        return label_set(self.config["labels"])

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
        if missing := [c for c in columns if c not in table]:
            raise KeyError(f"{self.path}: {split}_predictions.csv.gz has no {missing} (its columns: "
                           f"{list(table.columns)})")
        return table[columns].to_numpy()

    def pred(self, split: str = "test", column: str = "y_pred") -> np.ndarray:
        """Stored predictions (or ``column="y_true"``): class ids, or multi-hot rows for a multi-label run."""
        values = self.table(split)[column]
        if self.config.get("target") != "multi":
            return values.to_numpy().astype(int)
        hot = values.astype(str).str.get_dummies(sep=" ")  # "0 3" -> columns "0", "3"
        return hot.reindex(columns=[str(i) for i in range(len(self.labels.classes))], fill_value=0).to_numpy()

    def result(self) -> RunResult:
        """The run as a ``RunResult`` without a model; ``extra["test_ids"]`` (``"dev_ids"``): ids in stored order."""
        dev = {} if self.dev_predictions is None else {
            "dev_probs": self.probs(split="dev"), "dev_pred": self.pred("dev"), "y_dev": self.pred("dev", "y_true")}
        return RunResult(name=self.name, run_dir=self.path, config=self.config, labels=self.labels,
                         target=self.config.get("target", "single"), dev=self.metrics["dev"], test=self.metrics["test"],
                         threshold=self.metrics["dev"].get("threshold"), test_probs=self.probs(), test_pred=self.pred(),
                         y_test=self.pred(column="y_true"), **dev,
                         history=self.history if self.history is not None else pd.DataFrame(),
                         extra={**(self.config.get("result") or {}), "evaluations": self.evaluations,
                                **{f"{split}_ids": list(table["id"].astype(str)) for split, table in
                                   (("test", self.predictions), ("dev", self.dev_predictions)) if table is not None}})


def save_predictions(path: Path, probs: np.ndarray, ids: Sequence[str] | None = None, y_true: np.ndarray | None = None,
                     y_pred: np.ndarray | None = None, names: Sequence[str] = EKMAN_LABELS) -> Path:
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
    table[[f"prob_{name}" for name in names]] = np.round(probs[:, :len(names)], 5)
    # mtime=0: the same predictions give the same bytes (no churn when a finished run is re-read)
    table.to_csv(path, index=False, compression={"method": "gzip", "mtime": 0})
    return path


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


def check_record(run_dir: str | Path, metrics: dict, file: str = "metrics.json") -> None:
    """Refuse (``RecordError``) other numbers over ``file`` of a recorded run unless ``OVERWRITE_ENV`` is 1."""
    run_dir = Path(run_dir).absolute()
    stored_file = run_dir / file
    if not stored_file.is_file() or not run_dir.is_relative_to(paths_for("full").runs.absolute()):
        return
    stored = json.loads(stored_file.read_text(encoding="utf-8"))
    new = json.loads(json.dumps(metrics, default=_json_default))
    changed = [k for k in new if k in stored and not _same(stored[k], new[k])]
    if not changed or os.environ.get(OVERWRITE_ENV) == "1":
        return
    diff = "; ".join(f"{k} {m} {stored[k].get(m)} stored, {new[k].get(m)} new" for k in changed
                     for m in ("accuracy", "macro_f1") if isinstance(stored[k], dict) and m in stored[k])
    raise RecordError(f"{portable_path(run_dir)}: the recorded run's {file} holds other {'/'.join(changed)} "
                      f"numbers ({diff or f'see {file}'}); nothing was written. To replace the recorded run, set "
                      f"{OVERWRITE_ENV}=1 (pipeline: --overwrite-results).")


def save_run(run_dir: str | Path, config: dict, metrics: dict, history: Sequence[dict] | None = None,
             ids: Sequence[str] | None = None, y_true: np.ndarray | None = None, y_pred: np.ndarray | None = None,
             probs: np.ndarray | None = None, names: Sequence[str] = EKMAN_LABELS, dev: dict | None = None) -> Path:
    """Write a run folder; arrays are test rows in data order, ``dev`` the dev split's ``save_predictions`` kwargs."""
    run_dir = Path(run_dir)
    check_record(run_dir, metrics)
    config = {"format_version": FORMAT_VERSION, "labels": label_set_of(names).name, "data": None, **config}
    write_json(run_dir / "config.json", config | {"format_version": FORMAT_VERSION})
    write_json(run_dir / "metrics.json", metrics)
    if history:
        pd.DataFrame(list(history)).to_csv(run_dir / "history.csv", index=False)
    if probs is not None:
        save_predictions(run_dir / "test_predictions.csv.gz", probs, ids, y_true, y_pred, names)
    if dev is not None:
        save_predictions(run_dir / "dev_predictions.csv.gz", names=names, **dev)
    return run_dir


class RunFolderError(ValueError):
    """A run folder that does not load completely; names the folder and its missing or damaged file."""

    def __init__(self, folder: str | Path, file: str, problem: str) -> None:
        self.folder, self.file, self.problem = Path(folder), file, " ".join(problem.split())  # one line
        super().__init__(f"run folder {self.folder}: {file}: {self.problem}")

    def __reduce__(self) -> tuple:
        return type(self), (self.folder, self.file, self.problem)


# The scores every run of a target must hold, per split (tables and figures read them).
REQUIRED_METRICS: dict[str, dict[str, tuple[str, ...]]] = {
    "single": {"dev": ("accuracy", "macro_f1"), "test": ("accuracy", "macro_f1", "per_class", "confusion_matrix")},
    "multi": {"dev": ("macro_f1",), "test": ("macro_f1", "micro_f1", "exact_match", "per_class")},
}
# What marks a folder as (part of) a run: a folder holding one of these but no metrics.json is a damaged run.
RUN_FILES = ("config.json", "metrics.json", "history.csv", "test_predictions.csv.gz", "dev_predictions.csv.gz",
             EVALUATIONS, "checkpoints", "model")


def _read(folder: Path, name: str) -> dict | pd.DataFrame | None:
    """JSON object or CSV table ``name`` of ``folder`` (a missing CSV: None); a ``RunFolderError`` when damaged."""
    path, is_json = folder / name, name.endswith(".json")
    if not path.is_file():
        if is_json:
            raise RunFolderError(folder, name, "missing")
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8")) if is_json else pd.read_csv(path, keep_default_na=False)
    except (OSError, EOFError, ValueError, zlib.error) as err:  # gzip, CSV, JSON and decoding failures
        problem = "not valid JSON" if is_json else "unreadable, truncated or damaged"
        raise RunFolderError(folder, name, f"{problem} ({type(err).__name__}: {err})") from err
    if is_json and not isinstance(value, dict):
        raise RunFolderError(folder, name, f"holds a {type(value).__name__}, not a JSON object")
    return value


def _read_predictions(folder: Path, split: str, labels: LabelSet, target: str, metrics: dict) -> pd.DataFrame | None:
    """``<split>_predictions.csv.gz`` checked: its columns, class ids in range and metrics.json's ``n`` rows."""
    name = f"{split}_predictions.csv.gz"
    table = _read(folder, name)
    if table is None:
        return None
    probs = [f"prob_{c}" for c in labels.classes]
    if missing := [c for c in ("id", "y_true", "y_pred", *probs) if c not in table]:
        raise RunFolderError(folder, name, f"has no column {missing} (its columns: {list(table.columns)})")
    if bad := [c for c in probs if not pd.api.types.is_numeric_dtype(table[c])]:
        raise RunFolderError(folder, name, f"column {bad} holds values that are no numbers")
    n_classes = len(labels.classes)
    for column in ("y_true", "y_pred"):
        ids = table[column].astype(str).str.split().explode().dropna() if target == "multi" else table[column]
        if not pd.to_numeric(ids, errors="coerce").isin(range(n_classes)).all():
            raise RunFolderError(folder, name, f"column {column} holds values that are no class ids of the "
                                 f"{n_classes} {labels.name} classes")
    n = metrics[split].get("n")
    if n is not None and n != len(table):
        raise RunFolderError(folder, name, f"has {len(table)} rows, metrics.json's {split} n is {n} (truncated?)")
    return table


def read_config(run_dir: str | Path) -> dict:
    """``config.json`` of a run folder in this package's format (``RunFolderError`` for another version)."""
    run_dir = Path(run_dir)
    config = _read(run_dir, "config.json")
    if (version := config.get("format_version", 1)) != FORMAT_VERSION:
        raise RunFolderError(run_dir, "config.json", f"format_version {version}, this package reads "
                             f"{FORMAT_VERSION}: upgrade the run folders with `{MIGRATION}` (give it {run_dir.parent})")
    return config


def load_run(run_dir: str | Path) -> Run:
    """The run folder ``run_dir``, every file checked; a ``RunFolderError`` names a missing or damaged one."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(run_dir, "metrics.json", "missing: no such run folder")
    metrics, config = _read(run_dir, "metrics.json"), read_config(run_dir)
    target = config.get("target", "single")
    if target not in REQUIRED_METRICS:
        raise RunFolderError(run_dir, "config.json", f"target {target!r} is neither 'single' nor 'multi'")
    try:
        labels = label_set(config.get("labels"))
    except ValueError as err:
        raise RunFolderError(run_dir, "config.json", str(err)) from err
    for split, keys in REQUIRED_METRICS[target].items():
        scores = metrics.get(split) if isinstance(metrics.get(split), dict) else {}
        if missing := [k for k in keys if k not in scores]:
            raise RunFolderError(run_dir, "metrics.json", f"{split} has no {', '.join(missing)} (a {target}-label "
                                 f"run needs {split} {', '.join(keys)})")
        for key in [k for k in keys if k not in ("per_class", "confusion_matrix")]:
            value = scores[key]
            if not (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)):
                raise RunFolderError(run_dir, "metrics.json", f"{split} {key} is {value!r}, not a finite number")
    evaluations = {p.stem: _read(run_dir, f"{EVALUATIONS}/{p.name}")
                   for p in sorted((run_dir / EVALUATIONS).glob("*.json"))}
    predictions = {split: _read_predictions(run_dir, split, labels, target, metrics) for split in ("test", "dev")}
    return Run(run_dir, config, metrics, _read(run_dir, "history.csv"), predictions["test"], predictions["dev"],
               evaluations)


def run_folders(runs_root: str | Path, nested: bool = False) -> list[Path]:
    """The run folders in ``runs_root`` (``nested``: then those of its run groups); others: ``RunFolderError``."""
    root = Path(runs_root)
    if not root.is_dir():
        raise FileNotFoundError(f"runs_root {root} is not a folder")
    top, inner = [], []
    for folder in _subfolders(root):
        if _is_run_folder(folder):
            top.append(folder)
        else:
            runs = _subfolders(folder)
            inner += [run for run in runs if _is_run_folder(run, in_group=True)]
            if not runs:
                raise RunFolderError(folder, "metrics.json", "missing: the folder holds neither run files nor run "
                                     "folders (remove it)")
    return top + inner if nested else top


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _is_run_folder(folder: Path, in_group: bool = False) -> bool:
    """True for a run folder, False for what may be a folder of run folders, else a ``RunFolderError``."""
    if (folder / "metrics.json").is_file():
        return True
    present = [name for name in RUN_FILES if (folder / name).exists()]
    if present or in_group:
        held = f"it holds {', '.join(present)}: an unfinished or damaged run" if present else "not a run folder"
        raise RunFolderError(folder, "metrics.json", f"missing ({held}; finish the run or remove the folder)")
    return False


def save_evaluation(run_dir: str | Path, name: str, report: dict) -> Path:
    """Store a report of the run's model on other data as ``<run_dir>/evaluations/<name>.json``."""
    run_dir = Path(run_dir)
    if not (run_dir / "metrics.json").exists():
        raise FileNotFoundError(f"{run_dir}: not a run folder (no metrics.json) to store evaluation {name!r} in")
    if not name or Path(name).name != name or name.startswith("."):
        raise ValueError(f"evaluation name must be a plain file name, got {name!r}")
    path = run_dir / EVALUATIONS / f"{name}.json"
    check_record(run_dir, report, f"{EVALUATIONS}/{name}.json")
    write_json(path, report)
    return path


def load_result(run_dir: str | Path) -> RunResult:
    """A finished run folder as a ``RunResult`` (see ``Run.result``)."""
    return load_run(run_dir).result()


def summarize_runs(runs_root: str | Path) -> pd.DataFrame:
    """One row of headline dev/test numbers per run folder of ``runs_root``; a damaged one is a ``RunFolderError``."""
    rows = [{"run": run.name, "model": run.config.get("model", run.name), "target": run.config.get("target")}
            | {f"{split}_{key}": value for split in ("dev", "test") for key in ("accuracy", "macro_f1", "micro_f1")
               if (value := run.metrics.get(split, {}).get(key)) is not None}
            for run in map(load_run, run_folders(runs_root))]
    return pd.DataFrame(rows)


def record_headline(notebooks_out: str | Path, notebook: str, scores: dict[str, float]) -> Path:
    """Leave the notebook's headline scores (added to earlier ones) for the runner: the executed file's name."""
    path = Path(notebooks_out) / f"{HEADLINE_PREFIX}{notebook}.json"
    earlier = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    write_json(path, {**earlier, **scores})
    return path

"""Results of runs side by side: tables with bootstrap intervals, the model chosen on dev, the notebooks' figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from src_helpers.data.textio import read_json
from src_helpers.evaluation import figures, stats
from src_helpers.evaluation.metrics import choose_best
from src_helpers.evaluation.results import RunResult

CURVES = ("train_loss", "dev_loss", "dev_accuracy", "dev_macro_f1")


def interval_text(low: float, high: float, value: float | None = None, digits: int = 4,
                  ci_digits: int | None = None) -> str:
    """A 95% interval as text, ``[low, high]`` or ``value [low, high]`` (bounds with ``ci_digits``)."""
    bounds = f"[{low:.{ci_digits or digits}f}, {high:.{ci_digits or digits}f}]"
    return bounds if value is None else f"{value:.{digits}f} {bounds}"


def results_table(results: Sequence[RunResult], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per run: dev and test scores with percentile-bootstrap 95% intervals on test."""
    rows = []
    for r in results:
        row: dict = {"model": r.name, "target": r.target, "dev_macro_f1": r.dev["macro_f1"]}
        ci = stats.run_intervals(r, n_boot, seed)
        if r.target == "single":
            row |= {"dev_accuracy": r.dev["accuracy"], "test_accuracy": r.test["accuracy"],
                    "acc_95ci": interval_text(**ci["accuracy"])}
        else:
            row |= {"threshold": r.threshold, "test_micro_f1": r.test["micro_f1"],
                    "test_exact_match": r.test["exact_match"]}
        row |= {"test_macro_f1": r.test["macro_f1"], "mf1_95ci": interval_text(**ci["macro_f1"])}
        rows.append(row)
    order = ["target", "dev_accuracy", "dev_macro_f1", "threshold", "test_accuracy", "acc_95ci", "test_macro_f1",
             "mf1_95ci", "test_micro_f1", "test_exact_match"]
    table = pd.DataFrame(rows).set_index("model")
    return table[[c for c in order if c in table]].round(4)


def best_on_dev(results: Mapping[str, RunResult] | Sequence[RunResult], target: str = "single") -> str:
    """The run of ``target`` with the best dev macro-F1 (a NaN is a ``ValueError``)."""
    runs = list(results.values()) if isinstance(results, Mapping) else list(results)
    candidates = [r for r in runs if r.target == target]
    if not candidates:
        raise ValueError(f"no {target}-label run among {[r.name for r in runs]}")
    return choose_best({r.name: r.dev["macro_f1"] for r in candidates})


def per_class_f1(results: Sequence[RunResult] | Mapping[str, dict]) -> pd.DataFrame:
    """F1 per class (rows) and run (columns): each run's test report, or ``{name: report}``."""
    reports = results if isinstance(results, Mapping) else {r.name: r.test for r in results}
    return pd.DataFrame({name: {c: v["f1"] for c, v in rep["per_class"].items()} for name, rep in reports.items()}
                        ).round(3)


def selection_table(results: Mapping[str, RunResult] | Sequence[RunResult]) -> pd.DataFrame:
    """The grid each run chose a setting on (its ``selection``, e.g. TF-IDF's ``C``) and the one ``chosen``."""
    runs = list(results.values()) if isinstance(results, Mapping) else list(results)
    tables = []
    for r in runs:
        grid = getattr(r, "selection", None)
        if grid is None:
            continue
        knob = grid.columns[0]
        if "dev_macro_f1" not in grid or knob == "dev_macro_f1":
            raise ValueError(f"run {r.name!r}: its selection needs a setting column and dev_macro_f1, "
                             f"got columns {list(grid.columns)}")
        rows = grid.assign(run=r.name, chosen=False).reindex(columns=["run", knob, "dev_macro_f1", "threshold",
                                                                      "chosen"])
        rows["threshold"] = rows["threshold"].astype(float)
        if rows["dev_macro_f1"].isna().all():
            raise ValueError(f"run {r.name!r}: every {knob} of its selection has a NaN dev macro-F1")
        rows.loc[rows["dev_macro_f1"].idxmax(), "chosen"] = True  # NaN rows skipped, as the grid skipped them
        tables.append(rows.set_index(["run", knob]))
    if not tables:
        raise ValueError(f"no run with a selection grid among {[r.name for r in runs]}")
    return pd.concat(tables).round(4)


def run_figures(results: Sequence[RunResult], images: str | Path, prefix: str, peers: Sequence[RunResult] = (),
                per_class: bool = True) -> list[Path]:
    """Save (and show) learning curves, test confusion matrices, per-class F1 as ``images/<prefix>_*.png``."""
    images, written = Path(images), []
    for r in results:
        if len(r.history) and "epoch" in r.history:
            stored = r.config.get("best_epoch") if isinstance(r.config, dict) else None  # a run read from its folder
            epoch = getattr(r, "best_epoch", None) or stored
            best = f" (best epoch {epoch})" if epoch else ""
            written.append(images / f"{prefix}_{r.name}_curves.png")
            figures.release(figures.training_curves_figure(r.history, CURVES, f"{r.name}{best}", written[-1]))
        if r.target == "single":
            written.append(images / f"{prefix}_{r.name}_confusion.png")
            figures.release(figures.confusion(r.test["confusion_matrix"], r.labels.classes,
                                              f"{r.name}, test (row-normalised)", written[-1]))
    if per_class:
        written.append(images / f"{prefix}_per_class_f1.png")
        reports = {r.name: r.test for r in [*peers, *results]}
        figures.release(figures.per_class_f1_figure(reports, "Per-class F1 (test)", written[-1]))
    return written


def show(results: Mapping[str, RunResult] | Sequence[RunResult], images: str | Path, prefix: str,
         peers: Sequence[RunResult] = (), n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """A model notebook's view after training: histories, results table, per-class F1, figures; returns the table."""
    from IPython.display import display

    runs = list(results.values()) if isinstance(results, Mapping) else list(results)
    for r in runs:
        if len(r.history) and "epoch" in r.history:
            print(r.name)
            display(r.history.round(4).set_index("epoch"))
    table = results_table([*peers, *runs], n_boot=n_boot, seed=seed)
    display(table, per_class_f1([*peers, *runs]))
    run_figures(runs, images, prefix, peers)
    return table


def train_time(history: pd.DataFrame | None, config: Mapping | None) -> tuple[float, float, str]:
    """(seconds per epoch, training minutes, where from) of a run's history or recorded config; NaN for none."""
    history = history if history is not None else pd.DataFrame()
    if "train_seconds" in history:
        return float(history["train_seconds"].median()), float(history["train_seconds"].sum()) / 60, "history"
    seconds = config.get("result", {}).get("train_seconds") if isinstance(config, Mapping) else None
    if seconds is not None and len(history):
        return float(seconds) / len(history), float(seconds) / 60, "config result"
    return float("nan"), float("nan"), "none"


def _best_epoch(history: pd.DataFrame) -> int | None:
    """The epoch of the best dev macro-F1 in a run's history (a run read back keeps no attribute for it)."""
    return None if "dev_macro_f1" not in history else int(history.loc[history["dev_macro_f1"].idxmax(), "epoch"])


def _run_stat(r: RunResult, key: str) -> float:
    """A fine-tuning run's ``key``: its attribute, else ``extra``, else the stored config's ``result``."""
    if hasattr(r, key):
        return getattr(r, key)
    stored = r.config.get("result", {}) if isinstance(r.config, dict) else {}
    return r.extra.get(key, stored.get(key, float("nan")))


def cost_table(results: Mapping[str, RunResult] | Sequence[RunResult]) -> pd.DataFrame:
    """Per run: seconds per epoch, epochs, training minutes (else the wall clock), parameters, dev and test scores."""
    runs = list(results.values()) if isinstance(results, Mapping) else list(results)
    rows = []
    for r in runs:
        s_per_epoch, minutes, _ = train_time(r.history, r.config)
        wall = r.extra.get("wall_seconds", float("nan")) / 60
        if np.isnan(minutes):  # a fine-tuning of this session (its FTResult), else TF-IDF: the wall clock
            seconds = _run_stat(r, "train_seconds")
            minutes = wall if seconds is None or np.isnan(seconds) else seconds / 60
        rows.append({"model": r.name, "s_per_epoch": s_per_epoch, "epochs_run": len(r.history) or float("nan"),
                     "best_epoch": getattr(r, "best_epoch", None) or _best_epoch(r.history),
                     "train_minutes": minutes, "wall_minutes": wall,
                     "trainable_params": _run_stat(r, "trainable_params"),
                     "share_trainable": _run_stat(r, "trainable_params") / _run_stat(r, "total_params"),
                     "dev_macro_f1": r.dev.get("macro_f1"), "test_accuracy": r.test.get("accuracy"),
                     "test_macro_f1": r.test.get("macro_f1")})
    return pd.DataFrame(rows).set_index("model").round(4)


SCORES = ("dev_accuracy", "dev_macro_f1", "test_accuracy", "test_macro_f1")


def difference(table: pd.DataFrame, a: str, b: str, columns: Sequence[str] = SCORES) -> pd.DataFrame:
    """Rows ``a`` and ``b`` of a results table and their difference ``a - b`` (an ablation in one table)."""
    if missing := [n for n in (a, b) if n not in table.index]:
        raise KeyError(f"no run {missing} in the table (runs: {list(table.index)})")
    numeric = table.loc[[a, b], [c for c in columns if c in table]].astype(float)
    return pd.concat([numeric, (numeric.loc[a] - numeric.loc[b]).to_frame(f"{a} - {b}").T]).round(4)


def by_variant(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds: runs ``<variant>`` and ``<variant>_seed<n>`` form one group."""
    variant = table.index.str.replace(r"_seed\d+$", "", regex=True)
    numeric = table.select_dtypes("number")
    return numeric.groupby(variant, sort=False).agg(["mean", "std"]).round(4)


def speedup(cost: pd.DataFrame, slow: str, fast: str) -> pd.Series:
    """Two variants of a ``cost_table`` (seed means): seconds per epoch, test macro-F1, ``speedup``."""
    means = by_variant(cost).xs("mean", axis=1, level=1)
    if missing := [v for v in (slow, fast) if v not in means.index]:
        raise KeyError(f"no variant {missing} in the table (variants: {list(means.index)})")
    out = {f"{k}_{col}": means.loc[v, col] for k, v in (("slow", slow), ("fast", fast))
           for col in ("s_per_epoch", "test_macro_f1")}
    return pd.Series({**out, "speedup": out["slow_s_per_epoch"] / out["fast_s_per_epoch"]}).round(4)


def paired_bootstrap(a: RunResult, b: RunResult, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The gain of run ``a`` over run ``b`` on the same test rows with a paired-bootstrap 95% interval."""
    gains = stats.paired_gains(a, b, n_boot, seed)
    rows = {f"{m} gain": {"value": g[0], **stats.percentile_interval(g[1:])} for m, g in gains.items()}
    return pd.DataFrame(rows).T.round(4)


def tuned_vs_untuned(tuned: Mapping[str, RunResult], untuned: Mapping[str, RunResult], n_boot: int = 1000,
                     seed: int = 0) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Tuned runs next to untuned ones (``results_table``) and each changed family's ``paired_bootstrap`` gain."""
    changed = [f for f in tuned if tuned[f].name != untuned[f].name]
    table = results_table([*untuned.values(), *(tuned[f] for f in changed)], n_boot=n_boot, seed=seed)
    return table, {f: paired_bootstrap(tuned[f], untuned[f], n_boot=n_boot, seed=seed) for f in changed}


def headline_scores(single: RunResult, multi: RunResult) -> dict[str, float]:
    """Single-label test accuracy (``acc``) and macro-F1 (``mf1``), multi-label macro-F1 (``mlf1``)."""
    if single.target != "single" or multi.target != "multi":
        raise ValueError(f"headline_scores needs a single-label and a multi-label run, got {single.name!r} "
                         f"({single.target}) and {multi.name!r} ({multi.target})")
    return {"acc": single.test["accuracy"], "mf1": single.test["macro_f1"], "mlf1": multi.test["macro_f1"]}


def inference_benchmarks(folder: str | Path) -> pd.DataFrame:
    """``benchmarks/inference.py``'s ``inference_*.json`` in ``folder``: a row per file and inference path."""
    rows = []
    for path in sorted(Path(folder).glob("inference_*.json")):
        report = read_json(path)
        try:
            run = report.get("run") or Path(report["model_dir"]).parent.name  # a transformer's: <run>/model
            rows += [{"run": run, "threads": report["threads"], "path": name, **measured}
                     for name, measured in report["results"].items()]
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"{path}: not an inference benchmark report ({type(e).__name__}: {e})") from None
    return pd.DataFrame(rows).round(4)

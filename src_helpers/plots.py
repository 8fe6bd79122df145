"""Figures shown in the notebooks; each function saves a PNG when ``path`` is given and returns the figure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns


def _save(fig: plt.Figure, path: str | Path | None) -> plt.Figure:
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    return fig


def bar_counts(table: pd.DataFrame, title: str, path: str | Path | None = None,
               horizontal: bool = False) -> plt.Figure:
    """Grouped bars: rows are classes, columns are splits (or variants)."""
    fig, ax = plt.subplots(figsize=(9, max(4, 0.28 * len(table))) if horizontal else (9, 4))
    table.plot.barh(ax=ax) if horizontal else table.plot.bar(ax=ax, rot=0)
    ax.set_title(title)
    ax.set_xlabel("examples" if horizontal else "")
    return _save(fig, path)


def length_histogram(lengths: dict[str, pd.Series], title: str = "Text length (words)",
                     path: str | Path | None = None, clip: int = 60) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 4))
    bins = np.arange(0, clip + 2)
    for name, s in lengths.items():
        ax.hist(s.clip(upper=clip), bins=bins, alpha=0.5, density=True, label=name)
    ax.set_title(title)
    ax.set_xlabel(f"words (clipped at {clip})")
    ax.legend()
    return _save(fig, path)


def heatmap(matrix: pd.DataFrame | np.ndarray, title: str, path: str | Path | None = None,
            labels: Sequence[str] | None = None, fmt: str = "d", xlabel: str = "", ylabel: str = "",
            normalize_rows: bool = False) -> plt.Figure:
    """Annotated seaborn heatmap (confusion matrices, co-occurrence); ``normalize_rows`` shows row shares."""
    values = np.asarray(matrix, dtype=float)
    labels = list(labels if labels is not None else getattr(matrix, "index", range(len(values))))
    shown = values / values.sum(axis=1, keepdims=True).clip(min=1) if normalize_rows else values
    text = [[f"{v:.2f}" if normalize_rows else format(int(c), fmt) for v, c in zip(row, counts, strict=True)]
            for row, counts in zip(shown, values, strict=True)]
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    sns.heatmap(shown, ax=ax, cmap="Blues", square=True, annot=np.array(text), fmt="", annot_kws={"fontsize": 8},
                xticklabels=labels, yticklabels=labels, cbar_kws={"fraction": 0.046})
    ax.tick_params(axis="x", labelrotation=45)
    ax.tick_params(axis="y", labelrotation=0)
    plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return _save(fig, path)


def confusion(cm: Sequence[Sequence[int]], labels: Sequence[str], title: str,
              path: str | Path | None = None) -> plt.Figure:
    """Row-normalised confusion matrix (rows = true class)."""
    return heatmap(np.asarray(cm), title, path, labels=labels, xlabel="predicted", ylabel="true",
                   normalize_rows=True)


def per_class_f1(reports: dict[str, dict], title: str = "Per-class F1 (test)",
                 path: str | Path | None = None) -> plt.Figure:
    """Bars of per-class F1 for several models: ``{model: report_with_per_class}``."""
    table = pd.DataFrame({m: {c: v["f1"] for c, v in r["per_class"].items()} for m, r in reports.items()})
    fig, ax = plt.subplots(figsize=(9, 4))
    table.plot.bar(ax=ax, rot=0)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1")
    ax.set_title(title)
    return _save(fig, path)


def training_curves(history: pd.DataFrame, metrics: Sequence[str] = ("train_loss", "dev_loss", "dev_macro_f1"),
                    title: str = "Training", path: str | Path | None = None) -> plt.Figure:
    present = [m for m in metrics if m in history]
    fig, axes = plt.subplots(1, len(present), figsize=(4 * len(present), 3.2), squeeze=False)
    for ax, m in zip(axes[0], present, strict=True):
        ax.plot(history["epoch"], history[m], marker="o")
        ax.set_title(m)
        ax.set_xlabel("epoch")
    fig.suptitle(title)
    return _save(fig, path)


STUDY_PLOTS = ("optimization_history", "param_importances", "parallel_coordinate", "intermediate_values")


def study_figures(study, images: str | Path, prefix: str) -> dict[str, Path]:
    """Optuna's own matplotlib views of a study, saved as ``images/<prefix>_<view>.png``: optimisation history,
    parameter importances (needs two finished trials), parallel coordinates and intermediate values (the
    per-epoch dev scores, where pruned trials stop). Views a study cannot draw yet are skipped with a note."""
    import warnings

    import optuna
    from optuna.visualization import matplotlib as ovm

    written = {}
    for view in STUDY_PLOTS:
        with warnings.catch_warnings():  # optuna.visualization.matplotlib is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                ax = getattr(ovm, f"plot_{view}")(study)
            except (ValueError, RuntimeError) as err:  # e.g. importances of a study with one finished trial
                print(f"{study.study_name}: no {view} plot ({err})")
                continue
        fig = (ax.flat[0] if isinstance(ax, np.ndarray) else ax).figure
        fig.set_size_inches(*((15, 6) if view == "parallel_coordinate" else (8, 4.5)))
        written[view] = Path(images) / f"{prefix}_{view}.png"
        _save(fig, written[view])
    return written

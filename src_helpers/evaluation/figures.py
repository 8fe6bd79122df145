"""Figures shown in the notebooks; each function saves a PNG when ``path`` is given and returns the figure.
Outside a notebook a saved figure is closed at once (pyplot keeps every open figure alive)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns


def in_notebook() -> bool:
    """True when figures are drawn by the inline backend of a Jupyter kernel."""
    return "inline" in matplotlib.get_backend()


def release(fig: plt.Figure) -> None:
    """Done with ``fig``: show it under the running cell in a notebook, then close it (free its memory)."""
    if in_notebook() and plt.fignum_exists(fig.number):
        from IPython.display import display

        display(fig)
    plt.close(fig)


def _save(fig: plt.Figure, path: str | Path | None) -> plt.Figure:
    """Lay out ``fig``, write it to ``path`` (when given) and, outside a notebook, close it once written."""
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, bbox_inches="tight")
        if not in_notebook():
            plt.close(fig)
    return fig


def bar_counts(table: pd.DataFrame, title: str, path: str | Path | None = None,
               horizontal: bool = False) -> plt.Figure:
    """Grouped bars: rows are classes, columns are splits (or variants)."""
    fig, ax = plt.subplots(figsize=(9, max(4, 0.28 * len(table))) if horizontal else (9, 4))
    table.plot.barh(ax=ax) if horizontal else table.plot.bar(ax=ax, rot=0)
    ax.set(title=title, xlabel="examples" if horizontal else "")
    return _save(fig, path)


def length_histogram(lengths: dict[str, pd.Series], title: str = "Text length (words)",
                     path: str | Path | None = None, clip: int = 60) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 4))
    bins = np.arange(0, clip + 2)
    for name, s in lengths.items():
        ax.hist(s.clip(upper=clip), bins=bins, alpha=0.5, density=True, label=name)
    ax.set(title=title, xlabel=f"words (clipped at {clip})")
    ax.legend()
    return _save(fig, path)


def heatmap(matrix: pd.DataFrame | np.ndarray, title: str, path: str | Path | None = None,
            labels: Sequence[str] | None = None, fmt: str = "d", xlabel: str = "", ylabel: str = "",
            normalize_rows: bool = False) -> plt.Figure:
    """Annotated seaborn heatmap (confusion matrices, co-occurrence); ``normalize_rows`` shows row shares."""
    values = np.asarray(matrix, dtype=float)
    labels = list(labels if labels is not None else getattr(matrix, "index", range(len(values))))
    shown = values / values.sum(axis=1, keepdims=True).clip(min=1) if normalize_rows else values.astype(int)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    _matrix(ax, shown, labels, title, xlabel, ylabel, annot=True, fmt=".2f" if normalize_rows else fmt,
            annot_kws={"fontsize": 8}, cbar_kws={"fraction": 0.046})
    plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    return _save(fig, path)


def _matrix(ax: plt.Axes, shown: np.ndarray, labels: Sequence[str], title: str, xlabel: str, ylabel: str,
            **heatmap_kw) -> None:
    sns.heatmap(shown, ax=ax, cmap="Blues", square=True, xticklabels=labels, yticklabels=labels, **heatmap_kw)
    ax.tick_params(axis="x", labelrotation=45)
    ax.tick_params(axis="y", labelrotation=0)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)


def confusion(cm: Sequence[Sequence[int]], labels: Sequence[str], title: str,
              path: str | Path | None = None) -> plt.Figure:
    """Row-normalised confusion matrix (rows = true class)."""
    return heatmap(np.asarray(cm), title, path, labels=labels, xlabel="predicted", ylabel="true", normalize_rows=True)


def per_class_f1_figure(reports: dict[str, dict], title: str = "Per-class F1 (test)",
                 path: str | Path | None = None) -> plt.Figure:
    """Bars of per-class F1 for several models: ``{model: report_with_per_class}``."""
    fig = bar_counts(pd.DataFrame({m: {c: v["f1"] for c, v in r["per_class"].items()} for m, r in reports.items()}),
                     title)
    fig.axes[0].set(ylim=(0, 1), ylabel="F1")
    return _save(fig, path)


def training_curves_figure(history: pd.DataFrame, metrics: Sequence[str] = ("train_loss", "dev_loss", "dev_macro_f1"),
                    title: str = "Training", path: str | Path | None = None) -> plt.Figure:
    present = [m for m in metrics if m in history]
    fig, axes = plt.subplots(1, len(present), figsize=(4 * len(present), 3.2), squeeze=False)
    for ax, m in zip(axes[0], present, strict=True):
        ax.plot(history["epoch"], history[m], marker="o")
        ax.set(title=m, xlabel="epoch")
    fig.suptitle(title)
    return _save(fig, path)


STUDY_PLOTS = ("optimization_history", "param_importances", "parallel_coordinate", "intermediate_values")


def study_figures(study, images: str | Path, prefix: str) -> dict[str, Path]:
    """Optuna's views of a study (``STUDY_PLOTS``) as ``images/<prefix>_<view>.png``, skipped with a note if not."""
    import optuna
    from optuna.visualization import matplotlib as ovm

    written = {}
    epochs_reported = any(t.intermediate_values for t in study.get_trials(deepcopy=False))
    for view in STUDY_PLOTS:
        if view == "intermediate_values" and not epochs_reported:  # e.g. TF-IDF: one fit, nothing to prune
            print(f"{study.study_name}: no intermediate_values plot (no trial reports per-epoch scores)")
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # a parameter with one value in every trial gets a flat axis, which matplotlib widens by itself
            warnings.filterwarnings("ignore", "Attempting to set identical low and high", UserWarning)
            try:
                ax = getattr(ovm, f"plot_{view}")(study)
            except (ValueError, RuntimeError) as err:  # e.g. importances of a study with one finished trial
                print(f"{study.study_name}: no {view} plot ({err})")
                continue
        few = []  # Optuna's "less than 2 trials" warnings: one printed note; others re-issued
        for w in caught:
            if m := re.search(r"parameter `([^`]+)` have less than 2 trials", str(w.message)):
                few.append(m.group(1))
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if few:
            print(f"{study.study_name}: {view} rough (some values of {', '.join(dict.fromkeys(few))} were tried "
                  "fewer than twice)")
        fig = (ax.flat[0] if isinstance(ax, np.ndarray) else ax).figure
        fig.set_size_inches(*((15, 6) if view == "parallel_coordinate" else (8, 4.5)))
        written[view] = Path(images) / f"{prefix}_{view}.png"
        release(_save(fig, written[view]))
    return written


LEADERBOARD_PANELS = {"test_accuracy": "test accuracy", "test_macro_f1": "test macro-F1",
                      "multi_macro_f1": "multi-label test macro-F1"}


def leaderboard_figure(board: pd.DataFrame, references: Mapping[str, Mapping[str, float]] | None = None,
                       title: str = "GoEmotions test scores (bootstrap 95% intervals)",
                       path: str | Path | None = None) -> plt.Figure:
    """A panel per metric (``LEADERBOARD_PANELS``): values, intervals, ``{metric: {label: value}}`` dashed lines."""
    panels = [m for m in LEADERBOARD_PANELS if m in board and board[m].notna().any()]
    if not panels:
        raise ValueError(f"board has none of the columns {list(LEADERBOARD_PANELS)} (columns: {list(board.columns)})")
    references = dict(references or {})
    if unknown := sorted(set(references) - set(panels)):
        raise ValueError(f"references for {unknown}, which is not a panel of this board ({panels})")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 2.5, 0.38 * len(board) + 1.6),
                             sharey=True, squeeze=False)
    y = np.arange(len(board))[::-1]
    colours = sns.color_palette("colorblind", max([1, *(len(r) for r in references.values())]))
    for ax, metric in zip(axes[0], panels, strict=True):
        value = board[metric].to_numpy(float)
        low, high = (board[f"{metric}_{end}"].to_numpy(float) for end in ("low", "high"))
        ax.errorbar(value, y, xerr=[value - low, high - value], fmt="o", capsize=3, color=sns.color_palette()[0])
        for colour, (label, ref) in zip(colours, references.get(metric, {}).items(), strict=False):
            ax.axvline(ref, linestyle="--", color=colour, label=label)
        if references.get(metric):
            ax.legend(fontsize=8, loc="lower left")
        ax.set(title=LEADERBOARD_PANELS[metric], yticks=y, yticklabels=list(board.index))
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)


def per_class_heatmap(table: pd.DataFrame, title: str = "Per-class test F1", path: str | Path | None = None,
                      fmt: str = ".2f") -> plt.Figure:
    """Annotated heatmap of ``table``: models (rows) by classes (columns), values in [0, 1] (F1)."""
    fig, ax = plt.subplots(figsize=(0.9 * table.shape[1] + 3.5, 0.4 * table.shape[0] + 1.5))
    sns.heatmap(table.astype(float), ax=ax, cmap="Blues", vmin=0, vmax=1, annot=True, fmt=fmt,
                annot_kws={"fontsize": 8}, cbar_kws={"fraction": 0.046})
    ax.tick_params(axis="y", labelrotation=0)
    ax.set(title=title, xlabel="", ylabel="")
    return _save(fig, path)


def confusion_grid(matrices: dict[str, Sequence[Sequence[int]]], labels: Sequence[str],
                   title: str = "Test confusion matrices (row-normalised)", path: str | Path | None = None,
                   ncols: int = 3) -> plt.Figure:
    """Row-normalised confusion matrices (rows = true class), one panel per model of ``matrices``."""
    if not matrices:
        raise ValueError("confusion_grid needs at least one matrix")
    ncols = min(ncols, len(matrices))
    nrows = -(-len(matrices) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 4.3 * nrows), squeeze=False)
    for ax, (name, cm) in zip(axes.flat, matrices.items(), strict=False):
        counts = np.asarray(cm, dtype=float)
        if counts.shape != (len(labels), len(labels)):
            raise ValueError(f"{name}: confusion matrix of shape {counts.shape}, expected {len(labels)} x "
                             f"{len(labels)} (one row and column per label)")
        shares = counts / counts.sum(axis=1, keepdims=True).clip(min=1)
        _matrix(ax, shares, labels, name, "predicted", "true", vmin=0, vmax=1, annot=True, fmt=".2f", cbar=False,
                annot_kws={"fontsize": 7})
    for ax in axes.flat[len(matrices):]:
        ax.set_visible(False)
    fig.suptitle(title)
    return _save(fig, path)


def curves_overlay(curves: pd.DataFrame, title: str = "Dev macro-F1 during training", path: str | Path | None = None,
                   log_x: bool = True) -> plt.Figure:
    """Dev macro-F1 per run (``comparison.training_curves``) by training seconds (dashed: estimated), else epoch."""
    timed = curves["seconds"].notna().groupby(curves["run"]).transform("all") if len(curves) else curves["seconds"]
    parts = [(curves[timed], "seconds", "training time (s, cumulative)"),
             (curves[~timed], "epoch", "epoch (no time recorded)")]
    parts = [p for p in parts if len(p[0])]
    if not parts:
        raise ValueError("curves_overlay needs at least one row")
    fig, axes = plt.subplots(1, len(parts), figsize=(7.5 * len(parts) + 2, 4.5), squeeze=False)
    for ax, (data, x, label) in zip(axes[0], parts, strict=True):
        style = "time_source" if x == "seconds" and "time_source" in data else None
        dashes = {s: "" if s == "history" else (4, 2) for s in data["time_source"].unique()} if style else True
        sns.lineplot(data=data, x=x, y="dev_macro_f1", hue="run", style=style, dashes=dashes, marker="o", ax=ax)
        if x == "seconds" and log_x:
            ax.set_xscale("log")
        ax.set(xlabel=label, ylabel="dev macro-F1")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.suptitle(title)
    return _save(fig, path)


COST_LABELS = {"n_parameters": "parameters", "s_per_epoch": "training seconds per epoch",
               "ms_per_sentence": "inference ms per sentence"}


def cost_quality_figure(table: pd.DataFrame, costs: Sequence[str], quality_col: str = "test_macro_f1",
                        fronts: Mapping[str, pd.Series] | None = None, hue: str | None = "family",
                        title: str | None = None, path: str | Path | None = None, log_x: bool = True) -> plt.Figure:
    """A panel per cost column: ``quality_col`` against it, labelled points, the Pareto front of ``fronts``."""
    fig, axes = plt.subplots(1, len(costs), figsize=(6.5 * len(costs), 5.5), squeeze=False, sharey=True)
    keys = {name: i for i, name in enumerate(table.index, start=1)}  # points carry numbers, the key names them
    for ax, cost_col in zip(axes[0], costs, strict=True):
        shown = table[[cost_col, quality_col]].notna().all(axis=1)
        data = table[shown]
        if len(data):
            sns.scatterplot(data=data, x=cost_col, y=quality_col, hue=hue if hue in data else None, s=70, ax=ax)
        for name, row in data.iterrows():
            ax.annotate(str(keys[name]), (row[cost_col], row[quality_col]), fontsize=7, xytext=(3, 2),
                        textcoords="offset points")
        on_front = (fronts or {}).get(cost_col, pd.Series(dtype=bool)).reindex(data.index, fill_value=False)
        if on_front.any():
            best = data[on_front.astype(bool)].sort_values(cost_col)
            ax.step(best[cost_col], best[quality_col], where="post", color="grey", linestyle="--",
                    label="Pareto front")
            ax.legend(fontsize=8)
        if log_x and len(data):
            ax.set_xscale("log")
        ax.set(xlabel=COST_LABELS.get(cost_col, cost_col), ylabel=quality_col)
        ax.grid(alpha=0.3)
        if missing := list(table.index[~shown]):
            ax.text(0.0, -0.16, f"not shown (no {cost_col} or {quality_col}): {', '.join(map(str, missing))}",
                    transform=ax.transAxes, fontsize=7, wrap=True, va="top")
    fig.suptitle(title or f"{quality_col} against cost")
    fig.text(0.01, -0.08, "   ".join(f"{k} {name}" for name, k in keys.items()), fontsize=8, wrap=True, va="top")
    return _save(fig, path)

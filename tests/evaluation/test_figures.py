"""Figures: heatmaps are drawn by seaborn, with the same annotations (counts, or row-normalised shares)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import QuadMesh

from src_helpers.evaluation import figures

matplotlib.use("Agg")

LABELS = ["anger", "joy", "neutral"]
CM = [[8, 1, 1], [0, 5, 0], [2, 0, 0]]


def annotations(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def test_confusion_is_a_seaborn_heatmap_of_row_shares(tmp_path: Path) -> None:
    path = tmp_path / "img" / "cm.png"
    fig = figures.confusion(CM, LABELS, "test", path)
    ax = fig.axes[0]
    assert any(isinstance(c, QuadMesh) for c in ax.collections), "drawn by seaborn.heatmap (a QuadMesh)"
    assert not ax.images, "no hand-drawn imshow"
    assert annotations(fig) == ["0.80", "0.10", "0.10", "0.00", "1.00", "0.00", "1.00", "0.00", "0.00"]
    assert [t.get_text() for t in ax.get_xticklabels()] == LABELS
    assert [t.get_text() for t in ax.get_yticklabels()] == LABELS
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("predicted", "true", "test")
    assert len(fig.axes) == 2, "with a colour bar"
    assert path.stat().st_size > 0


@pytest.mark.parametrize("matrix", [pd.DataFrame(CM, index=LABELS, columns=LABELS), np.array(CM)])
def test_heatmap_counts_and_labels(matrix) -> None:
    fig = figures.heatmap(matrix, "co-occurrence", labels=None if isinstance(matrix, pd.DataFrame) else LABELS)
    assert annotations(fig) == ["8", "1", "1", "0", "5", "0", "2", "0", "0"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == LABELS
    assert any(isinstance(c, QuadMesh) for c in fig.axes[0].collections)


def _study(per_epoch: bool):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="s", direction="maximize")
    dist = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)}
    for i, lr in enumerate((1e-3, 3e-3, 5e-4)):
        epochs = {0: 0.3 + i / 10, 1: 0.4 + i / 10} if per_epoch else {}
        study.add_trial(optuna.trial.create_trial(params={"lr": lr}, distributions=dist, value=0.5 + i / 10,
                                                  intermediate_values=epochs))
    return study


@pytest.mark.parametrize("per_epoch", [True, False])
def test_study_figures_draw_the_views_a_study_has(per_epoch: bool, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    written = figures.study_figures(_study(per_epoch), tmp_path, "06_x")
    views = {"optimization_history", "param_importances", "parallel_coordinate"}
    assert set(written) == views | ({"intermediate_values"} if per_epoch else set())
    assert all(p.is_file() and p.stat().st_size > 0 for p in written.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"06_x_{v}.png" for v in written)
    if not per_epoch:  # e.g. TF-IDF: one fit per trial, so no empty per-epoch plot
        assert "no intermediate_values plot" in capsys.readouterr().out


def test_study_figures_of_a_small_study_warn_of_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture) -> None:
    """A parameter with one value in every trial (a flat parallel-coordinates axis) gives no warning; importances
    resting on few trials per value give one printed note instead of a warning per parameter."""
    import warnings

    import optuna
    from optuna.visualization import matplotlib as ovm

    study = _study(per_epoch=False)
    dist = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
            "layers": optuna.distributions.CategoricalDistribution([1, 2])}
    study.add_trial(optuna.trial.create_trial(params={"lr": 2e-3, "layers": 1}, distributions=dist, value=0.6))
    importances = ovm.plot_param_importances

    def rough(study, **kw):
        for name in ("lr", "layers"):
            warnings.warn(f"Some regimes for parameter `{name}` have less than 2 trials. The importance of the "
                          "parameter may be inaccurate.", UserWarning, stacklevel=2)
        return importances(study, **kw)

    monkeypatch.setattr(ovm, "plot_param_importances", rough)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        written = figures.study_figures(study, tmp_path, "06_x")
    assert {"parallel_coordinate", "param_importances"} <= set(written)
    assert "s: param_importances rough (some values of lr, layers were tried fewer than twice)" in \
        capsys.readouterr().out


# ------------------------------------------------------------------------------------------ open figures
def _drawn_to(path: Path) -> list:
    """One figure of each kind, saved under ``path``."""
    reports = {"a": {"per_class": {c: {"f1": 0.5} for c in LABELS}}}
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.8], "dev_loss": [1.1, 0.9],
                            "dev_macro_f1": [0.3, 0.4]})
    return [figures.bar_counts(pd.DataFrame({"n": [3, 1, 2]}, index=LABELS), "counts", path / "bars.png"),
            figures.length_histogram({"train": pd.Series([3, 5, 8])}, path=path / "lengths.png"),
            figures.heatmap(np.array(CM), "co-occurrence", path / "heat.png", labels=LABELS),
            figures.confusion(CM, LABELS, "test", path / "cm.png"),
            figures.per_class_f1_figure(reports, path=path / "f1.png"),
            figures.training_curves_figure(history, path=path / "curves.png"),
            figures.per_class_heatmap(pd.DataFrame([[0.5, 0.4, 0.3]], index=["a"], columns=LABELS),
                                    path=path / "table.png"),
            figures.confusion_grid({"a": CM, "b": CM}, LABELS, path=path / "grid.png")]


def test_figures_saved_to_a_path_are_closed(tmp_path: Path) -> None:
    """Outside a notebook a figure written to a file is closed: drawing many leaves no figure open (pyplot warns
    past 20), and the returned figure still renders (a notebook cell that returns it displays it)."""
    import warnings

    import matplotlib.pyplot as plt
    from IPython.core.pylabtools import print_figure

    plt.close("all")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "More than 20 figures have been opened" is a RuntimeWarning
        for _ in range(4):
            figures = _drawn_to(tmp_path)
    assert plt.get_fignums() == []
    assert all(png(p) for p in tmp_path.iterdir()) and len(list(tmp_path.iterdir())) == len(figures)
    assert all(print_figure(fig, "png").startswith(b"\x89PNG") for fig in figures)


def test_in_a_notebook_figures_are_shown_then_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the inline backend a saved figure stays open for the backend to show at the end of the cell, and
    ``release`` shows a figure under the cell and closes it (a cell drawing many figures keeps none open)."""
    import IPython.display
    import matplotlib.pyplot as plt

    shown: list = []
    monkeypatch.setattr(figures, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    plt.close("all")
    fig = figures.confusion(CM, LABELS, "test", tmp_path / "cm.png")
    assert plt.get_fignums() == [fig.number] and shown == []
    figures.release(fig)
    assert plt.get_fignums() == [] and shown == [fig]
    figures.release(fig)
    assert shown == [fig], "a closed figure is not shown again"


def png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

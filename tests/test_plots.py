"""Figures: heatmaps are drawn by seaborn, with the same annotations (counts, or row-normalised shares)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import QuadMesh

from src_helpers import plots

matplotlib.use("Agg")

LABELS = ["anger", "joy", "neutral"]
CM = [[8, 1, 1], [0, 5, 0], [2, 0, 0]]


def annotations(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def test_confusion_is_a_seaborn_heatmap_of_row_shares(tmp_path: Path) -> None:
    path = tmp_path / "img" / "cm.png"
    fig = plots.confusion(CM, LABELS, "test", path)
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
    fig = plots.heatmap(matrix, "co-occurrence", labels=None if isinstance(matrix, pd.DataFrame) else LABELS)
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
    written = plots.study_figures(_study(per_epoch), tmp_path, "06_x")
    views = {"optimization_history", "param_importances", "parallel_coordinate"}
    assert set(written) == views | ({"intermediate_values"} if per_epoch else set())
    assert all(p.is_file() and p.stat().st_size > 0 for p in written.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"06_x_{v}.png" for v in written)
    if not per_epoch:  # e.g. TF-IDF: one fit per trial, so no empty per-epoch plot
        assert "no intermediate_values plot" in capsys.readouterr().out

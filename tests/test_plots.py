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

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from src_helpers.data.labels import EKMAN, GOEMOTIONS
from src_helpers.evaluation.comparison import catalog
from src_helpers.evaluation.results import RunResult, scored, targets
from src_helpers.experiments.fine_labels import ekman_runs, grouped_name
from src_helpers.experiments.run_folders import load_result


def fine_run(splits: dict, noise: float = 0.3, seed: int = 0) -> RunResult:
    """A 28-label multi-label run whose probabilities are the true labels blurred by noise."""
    rng = np.random.default_rng(seed)
    y = {s: targets(splits[s], "multi", GOEMOTIONS) for s in ("dev", "test")}
    probs = {s: np.clip(y[s] * 0.7 + rng.uniform(0, noise, y[s].shape), 0, 1) for s in y}
    config = {"model": "transformer:minilm", "target": "multi", "labels": GOEMOTIONS.name,
              "experiment": {"name": "goemotions_minilm28_multi",
                             "settings": {"target": "multi", "labels": "goemotions"}}}
    return RunResult(name="goemotions_minilm28_multi", config=config,
                     extra={"test_ids": splits["test"]["comment_id"].astype(str).tolist()},
                     **scored(y["dev"], probs["dev"], y["test"], probs["test"], "multi", GOEMOTIONS))


def test_a_fine_label_run_becomes_two_ekman_runs(goemotions_sample: dict, tmp_path: Path) -> None:
    written = ekman_runs(fine_run(goemotions_sample), goemotions_sample, tmp_path)
    assert list(written) == ["minilm28_grouped_single", "minilm28_grouped_multi"]
    single, multi = (load_result(tmp_path / n) for n in written)
    assert single.labels == EKMAN and single.target == "single" and multi.target == "multi"
    np.testing.assert_allclose(single.test_probs.sum(1), 1, atol=1e-4)
    truth = goemotions_sample["test"]["ekman"].to_numpy()
    assert (single.test_pred == truth).mean() > 0.8  # blurred true labels group into the right primary class
    assert multi.threshold is not None and multi.test["macro_f1"] > 0.8
    table = catalog(tmp_path)
    assert set(table.index) == set(written) and (table["dataset"] == "goemotions").all()
    again = ekman_runs(fine_run(goemotions_sample), goemotions_sample, tmp_path)  # the same numbers: no change
    assert again[grouped_name("goemotions_minilm28_multi", "multi")].test == multi.test


def test_a_freshly_trained_fine_run_names_its_experiment_through_its_folder(goemotions_sample: dict,
                                                                            tmp_path: Path) -> None:
    """A trainer's result holds its settings object, not the record: the grouped runs read the fine run's
    config.json, so the comparison's catalog knows them (a quick run of notebook 05, then 08)."""
    import dataclasses
    import json

    written = fine_run(goemotions_sample)
    (tmp_path / written.name).mkdir()
    (tmp_path / written.name / "config.json").write_text(json.dumps(written.config))
    fresh = dataclasses.replace(written, config=object(), run_dir=tmp_path / written.name)
    grouped = ekman_runs(fresh, goemotions_sample, tmp_path / "runs")
    table = catalog(tmp_path / "runs")
    assert set(table.index) == set(grouped) and (table["experiment"] == "goemotions_minilm28_multi").all()


def test_grouping_refuses_runs_it_cannot_read(goemotions_sample: dict, tmp_path: Path) -> None:
    run = fine_run(goemotions_sample)
    ekman = RunResult(name="x", labels=EKMAN, target="multi", dev={}, test={}, test_probs=np.zeros((1, 7)),
                      test_pred=np.zeros((1, 7)))
    with pytest.raises(ValueError, match="run 'x' predicts the 'ekman' label set"):
        ekman_runs(ekman, goemotions_sample, tmp_path)
    run.dev_probs = None
    with pytest.raises(ValueError, match="has no dev probabilities"):
        ekman_runs(run, goemotions_sample, tmp_path)
    other = fine_run(goemotions_sample)
    other.extra["test_ids"] = other.extra["test_ids"][::-1]
    with pytest.raises(ValueError, match="stored test ids are not these test rows"):
        ekman_runs(other, goemotions_sample, tmp_path)

"""ensemble: Caruana's greedy selection with replacement on dev, evaluated once on test."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from src_helpers.data.labels import DAIR, EKMAN
from src_helpers.evaluation.ensemble import cross_fitted_score, ensemble_result, select_ensemble
from src_helpers.evaluation.metrics import choose_threshold
from src_helpers.evaluation.results import RunResult, evaluate
from src_helpers.evaluation.tables import paired_bootstrap, results_table

K, N = 7, 140
Y_DEV = np.arange(N) % K
Y_TEST = (np.arange(N) + 3) % K


def probs_right_on(y: np.ndarray, right: np.ndarray, sure: float = 0.8, unsure: float = 0.4) -> np.ndarray:
    """Probabilities with the argmax ``y`` on the rows ``right`` (confidence ``sure``) and the next class on the
    others (confidence ``unsure``, the true class a close second)."""
    probs = np.full((len(y), K), 0.0)
    rows = np.arange(len(y))
    wrong = (y + 1) % K
    probs[rows, y] = np.where(right, sure, unsure - 0.05)
    probs[rows[~right], wrong[~right]] = unsure
    rest = 1 - probs.sum(1, keepdims=True)
    return probs + (probs == 0) * rest / (probs == 0).sum(1, keepdims=True)


def run(name: str, dev_right: np.ndarray, test_right: np.ndarray, /, **changes) -> RunResult:
    dev, test = probs_right_on(Y_DEV, dev_right), probs_right_on(Y_TEST, test_right)
    ev = evaluate(Y_DEV, dev, Y_TEST, test, "single")
    r = RunResult(name=name, dev=ev.dev, test=ev.test, dev_probs=dev, dev_pred=ev.dev_pred, y_dev=Y_DEV,
                  test_probs=test, test_pred=ev.test_pred, y_test=Y_TEST)
    return dataclasses.replace(r, **changes)


def first(share: float) -> np.ndarray:
    return np.arange(N) < share * N


def last(share: float) -> np.ndarray:
    return np.arange(N) >= (1 - share) * N


def test_picks_the_better_dev_member_first_although_test_prefers_the_other():
    good_on_dev = run("good_on_dev", first(0.8), first(0.3))
    good_on_test = run("good_on_test", first(0.6), first(0.95))
    ens = select_ensemble([good_on_test, good_on_dev], max_size=5)
    assert ens.dev_path["added"].iloc[0] == "good_on_dev"
    assert ens.members == ("good_on_dev",) and ens.weights == (1.0,)
    assert ens.dev_path["score"].iloc[0] == good_on_dev.dev["macro_f1"]


def test_selection_never_reads_test_probabilities():
    runs = [run("a", first(0.8), first(0.3)), run("b", last(0.7), first(0.9)), run("c", first(0.5), first(0.5))]
    blind = [dataclasses.replace(r, test_probs=np.full_like(r.test_probs, np.nan)) for r in runs]
    ens, ens_blind = select_ensemble(runs, max_size=6), select_ensemble(blind, max_size=6)
    assert ens.members == ens_blind.members and ens.weights == ens_blind.weights
    assert ens.dev_path.equals(ens_blind.dev_path)


def test_complementary_members_are_combined_and_weights_sum_to_one():
    # a is wrong (unsure) on the last rows, b on the first: their mean is right everywhere
    a, b = run("a", first(0.75), first(0.75)), run("b", last(0.7), last(0.7))
    ens = select_ensemble([a, b], max_size=4)
    assert set(ens.members) == {"a", "b"}
    assert sum(ens.weights) == pytest.approx(1.0)
    kept = ens.dev_path[ens.dev_path["kept"]]
    assert ens.dev_path["score"].max() == kept["score"].iloc[-1] == pytest.approx(1.0)
    counts = kept["added"].value_counts(normalize=True)
    assert dict(zip(ens.members, ens.weights, strict=True)) == pytest.approx(counts.to_dict())
    np.testing.assert_allclose(ens.predict_proba("dev"),
                               sum(w * r.dev_probs for w, r in zip(ens.weights, ens.runs, strict=True)))
    result = ensemble_result(ens)
    assert result.dev["macro_f1"] == result.test["macro_f1"] == pytest.approx(1.0)
    np.testing.assert_allclose(result.test_probs,
                               sum(w * r.test_probs for w, r in zip(ens.weights, ens.runs, strict=True)))


def test_ties_go_to_the_earlier_run():
    a = run("a", first(0.8), first(0.6))
    twin = dataclasses.replace(a, name="twin")
    assert select_ensemble([a, twin], max_size=3).members == ("a",)
    assert select_ensemble([twin, a], max_size=3).members == ("twin",)


def test_dev_path_keeps_the_best_prefix():
    a, b = run("a", first(0.75), first(0.75)), run("b", last(0.7), last(0.7))
    ens = select_ensemble([a, b], max_size=6)
    path = ens.dev_path
    assert list(path["step"]) == list(range(1, 7))
    best = path["score"].max()
    assert path.loc[path["kept"], "step"].max() == path.loc[path["score"] == best, "step"].min()


def test_ensemble_result_plugs_into_reporting():
    a, b = run("a", first(0.75), first(0.6)), run("b", last(0.7), last(0.5))
    result = ensemble_result(select_ensemble([a, b], max_size=4), name="ens")
    assert result.name == "ens" and result.target == "single"
    np.testing.assert_array_equal(result.test_pred, result.test_probs.argmax(1))
    assert result.test == evaluate(Y_DEV, result.dev_probs, Y_TEST, result.test_probs, "single").test
    table = results_table([a, b, result], n_boot=20)
    assert list(table.index) == ["a", "b", "ens"]
    gains = paired_bootstrap(result, a, n_boot=20)
    assert gains.loc["accuracy gain", "value"] == pytest.approx(result.test["accuracy"] - a.test["accuracy"],
                                                                abs=1e-4)


def test_single_member_ensemble_is_that_member():
    a = run("a", first(0.8), first(0.6))
    result = ensemble_result(select_ensemble([a], max_size=3))
    np.testing.assert_allclose(result.test_probs, a.test_probs)
    assert result.test == a.test


@pytest.mark.parametrize(("changes", "message"), [
    ({"y_dev": np.roll(Y_DEV, 1)}, "not scored on the same dev rows"),
    ({"y_test": np.roll(Y_TEST, 1)}, "not scored on the same test rows"),
    ({"y_test": Y_TEST[:-1]}, "not scored on the same test rows"),
    ({"dev_probs": None}, "'b' has no dev predictions"),
    ({"dev_probs": np.full((N, K), np.nan)}, "'b': dev_probs hold NaN"),
    ({"target": "multi"}, "different targets"),
    ({"config": {"model": "ensemble"}}, "'b' is an ensemble"),
    ({"labels": DAIR}, "different label sets"),
    ({"name": "a"}, "run names must be unique"),
    ({"extra": {"test_ids": ["x"] * N}}, "different test ids"),
    ({"extra": {"dev_ids": ["x"] * N}}, "different dev ids"),
])
def test_runs_that_cannot_join_raise(changes, message):
    a = run("a", first(0.8), first(0.6), extra={f"{s}_ids": [str(i) for i in range(N)] for s in ("dev", "test")})
    b = run("b", first(0.6), first(0.6), **changes)
    with pytest.raises(ValueError, match=message):
        select_ensemble([a, b])


def test_bad_arguments_raise():
    a = run("a", first(0.8), first(0.6))
    with pytest.raises(ValueError, match="metric"):
        select_ensemble([a], metric="loss")
    with pytest.raises(ValueError, match="max_size"):
        select_ensemble([a], max_size=0)
    with pytest.raises(ValueError, match="at least one run"):
        select_ensemble([])
    with pytest.raises(ValueError, match="split"):
        select_ensemble([a]).predict_proba("train")


# ------------------------------------------------------------------------------------------ multi-label
def multi_hot(seed: int) -> np.ndarray:
    """Multi-hot rows of the K classes, at least one per row (as the Ekman groups: neutral is one)."""
    rng = np.random.default_rng(seed)
    y = (rng.random((N, K)) < 0.3).astype(int)
    y[np.arange(N), rng.integers(0, K, N)] = 1
    return y


M_DEV, M_TEST = multi_hot(1), multi_hot(2)


def multi_run(name: str, knows: list[int], seed: int, y_test: np.ndarray = M_TEST) -> RunResult:
    """Sigmoid outputs that are the truth on the classes ``knows``, elsewhere noise: 0.3, 0.4, ..., 0.7."""
    rng = np.random.default_rng(seed)
    dev, test = ((np.where(np.isin(np.arange(K), knows), y, rng.uniform(0.3, 0.7, y.shape).round(1)))
                 for y in (M_DEV, y_test))
    ev = evaluate(M_DEV, dev, y_test, test, "multi")
    return RunResult(name=name, target="multi", dev=ev.dev, test=ev.test, threshold=ev.threshold, dev_probs=dev,
                     dev_pred=ev.dev_pred, y_dev=M_DEV, test_probs=test, test_pred=ev.test_pred, y_test=y_test)


def test_multi_label_members_that_know_different_classes_are_combined():
    # a knows classes 0-3, b the others: alone each is noise on the rest; their mean separates every class
    a, b, noise = multi_run("a", [0, 1, 2, 3], 10), multi_run("b", [4, 5, 6], 11), multi_run("noise", [], 12)
    assert max(a.dev["macro_f1"], b.dev["macro_f1"]) < 0.9
    ens = select_ensemble([noise, a, b], max_size=4)
    assert dict(zip(ens.members, ens.weights, strict=True)) == {"a": 0.5, "b": 0.5}
    assert ens.dev_path["added"].iloc[0] == "a" and ens.dev_path["kept"].sum() == 2
    result = ensemble_result(ens)
    assert result.name == "ensemble_multi" and result.target == "multi"
    assert result.dev["macro_f1"] == result.test["macro_f1"] == pytest.approx(1.0)
    assert ens.dev_path["score"].max() == pytest.approx(result.dev["macro_f1"])
    np.testing.assert_array_equal(result.test_pred, result.y_test)
    # known classes: the mean is y / 2 + noise / 2, so a threshold between 0.35 and 0.65 separates them
    assert ((ens.thresholds > 0.35) & (ens.thresholds <= 0.65)).all()
    assert result.config["thresholds"] == dict(zip(EKMAN.classes, ens.thresholds, strict=True))
    assert result.dev["threshold"] == result.test["threshold"] == list(ens.thresholds)


def test_multi_label_thresholds_are_chosen_on_dev_only():
    a, b = multi_run("a", [0, 1, 2], 10), multi_run("b", [3, 4, 5, 6], 11)
    other_test = 1 - M_TEST  # other test labels (and probabilities): the choice must not move
    a2, b2 = multi_run("a", [0, 1, 2], 10, other_test), multi_run("b", [3, 4, 5, 6], 11, other_test)
    ens, ens2 = select_ensemble([a, b], max_size=3), select_ensemble([a2, b2], max_size=3)
    np.testing.assert_array_equal(ens.thresholds, ens2.thresholds)
    assert ens.weights == ens2.weights and ens.dev_path.equals(ens2.dev_path)
    per_class = choose_threshold(M_DEV, ens.predict_proba("dev"), per_class=True)
    np.testing.assert_array_equal(ens.thresholds, per_class)
    assert ensemble_result(ens).test != ensemble_result(ens2).test


def test_single_label_ensemble_has_no_thresholds():
    ens = select_ensemble([run("a", first(0.8), first(0.6)), run("b", last(0.7), last(0.5))], max_size=3)
    assert ens.thresholds is None and ensemble_result(ens).config["thresholds"] is None


# ----------------------------------------------------------------------------- cross-fitted dev score
def noise_runs(n: int, target: str = "single") -> list[RunResult]:
    """``n`` runs whose probabilities are random: any dev gain of an ensemble of them is selection luck."""
    rng = np.random.default_rng(0)
    y_dev = Y_DEV if target == "single" else np.eye(K, dtype=int)[Y_DEV]
    y_test = Y_TEST if target == "single" else np.eye(K, dtype=int)[Y_TEST]
    runs = []
    for i in range(n):
        dev, test = rng.dirichlet(np.ones(K), N), rng.dirichlet(np.ones(K), N)
        ev = evaluate(y_dev, dev, y_test, test, target)
        runs.append(RunResult(name=f"noise{i}", target=target, dev=ev.dev, test=ev.test, dev_probs=dev,
                              dev_pred=ev.dev_pred, y_dev=y_dev, test_probs=test, test_pred=ev.test_pred,
                              y_test=y_test))
    return runs


@pytest.mark.parametrize("target", ["single", "multi"])
def test_the_cross_fitted_score_removes_the_selections_optimism(target):
    runs = noise_runs(8, target)
    chosen = ensemble_result(select_ensemble(runs, max_size=10))
    fair = cross_fitted_score(runs, max_size=10)
    assert fair < chosen.dev["macro_f1"] - 0.03, "the ensemble's own dev score is flattered by choosing on it"
    assert fair == cross_fitted_score(runs, max_size=10), "seeded folds: the same score again"


def test_the_cross_fitted_score_of_one_single_label_run_is_its_dev_score():
    a = run("a", first(0.7), first(0.3))
    assert cross_fitted_score([a]) == pytest.approx(a.dev["macro_f1"])


def test_the_cross_fitted_score_never_reads_test_and_refuses_one_fold():
    runs = [run("a", first(0.8), first(0.3)), run("b", last(0.7), first(0.9))]
    blind = [dataclasses.replace(r, test_probs=np.full_like(r.test_probs, np.nan)) for r in runs]
    assert cross_fitted_score(runs, max_size=6) == cross_fitted_score(blind, max_size=6)
    with pytest.raises(ValueError, match="folds must be an integer >= 2, got 1"):
        cross_fitted_score(runs, folds=1)

"""Named experiments: the registry (both profiles, and the settings that produced the committed runs),
dotted overrides, run names, ``run_experiments`` end to end on the bundled sample, ``run_or_load``/``finished``,
and ``load_result`` reading run folders back as ``RunResult`` objects."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from optuna.trial import FixedTrial

from src_helpers.config import REPO_ROOT
from src_helpers.data.augment import AugmentConfig
from src_helpers.data.goemotions import load_goemotions, subsample
from src_helpers.evaluation.results import RunResult
from src_helpers.experiments import registry, studies
from src_helpers.experiments.registry import EXPERIMENTS, configure, finished, overview, run_experiments, run_or_load
from src_helpers.experiments.run_folders import load_result
from src_helpers.training.configs import TrainConfig
from src_helpers.training.resume import data_fingerprint
from src_helpers.training.tfidf import TfidfTrainer

COMMITTED = REPO_ROOT / "notebook_outputs" / "runs"
STUDIES = REPO_ROOT / "notebook_outputs" / "studies"
# the official train splits: a transformer run without train_rows used all of it
TRAIN_ROWS = {"ekman": 43_410, "dair": 16_000, "goemotions": 43_410}
# registered, but not yet run on the real data; remove a name once its run folder is committed
NOT_YET_RUN: set[str] = set()  # every registered experiment has a committed run
RUNTIME = ("device", "num_threads")  # where and with how many threads a run trained, not what it is
FILLED_IN = ("vocab_size", "pad_id", "target", "num_classes")  # model fields the data/target fill in


@pytest.fixture(scope="module")
def sample() -> dict[str, pd.DataFrame]:
    return load_goemotions(source="sample")


def quick_runs_dir(tmp: Path) -> Path:
    return tmp / "out" / ".smoke" / "runs"  # paths_for("quick") under conftest's SRC_HELPERS_OUTPUT_ROOT


# ------------------------------------------------------------------------------------------ the registry
@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_experiment_configures_in_both_profiles(name: str) -> None:
    full, quick = configure(name, "full"), configure(name, "quick")
    assert full == EXPERIMENTS[name], "full is the registered experiment itself"
    assert quick.family == full.family and quick.target == full.target
    assert quick.run_name == full.run_name == name, "the profile never changes the run folder's name"
    assert quick.settings().keys() == full.settings().keys()
    if full.family == "rnn":
        assert quick != full, "quick shrinks every RNN"
        assert quick.train.epochs == 8 and quick.model.hidden_dim < full.model.hidden_dim


def test_quick_shrinks_widths_and_keeps_minilm_embeddings() -> None:
    for name in ("bigru_minilm", "bilstm_minilm", "bigru2_minilm"):
        full, quick = configure(name, "full"), configure(name, "quick")
        assert (full.model.hidden_dim, quick.model.hidden_dim) == (256, 32), name
        assert full.model.embedding_dim == quick.model.embedding_dim == 384, f"{name}: MiniLM rows are 384-d"
        assert full.train.epochs == 6
    random_full, random_quick = configure("bigru_random", "full"), configure("bigru_random", "quick")
    assert (random_full.model.embedding_dim, random_quick.model.embedding_dim) == (128, 32)
    speed = configure("bilstm2_bf16_exact", "quick").model
    assert (speed.embedding_dim, speed.hidden_dim) == (16, 16), "the speed ablation shrinks to 16"
    for name in ("xlstm_minilm", "rwkv_minilm"):
        full, quick = configure(name, "full"), configure(name, "quick")
        assert (full.model.input_dim, quick.model.input_dim) == (128, 32), name
        assert quick.model.embedding_dim == 384
    subset = "transformer_minilm_single_subset4000_ep1"
    assert (configure(subset, "full").train_rows, configure(subset, "quick").train_rows) == (4000, None)
    assert configure("tfidf_single", "quick") == configure("tfidf_single", "full"), "TF-IDF is already fast"


def committed_experiment(folder: str) -> tuple[str, dict]:
    """The registered experiment (and the target/seed overrides) whose run folder is ``folder``.

    ``tuned_<study>[_multi]``: the family's experiment with the parameters ``studies.retrain_best`` trained for the
    committed study ``full_<study>`` (``<study>``: the family, or ``<family>_<name>``): the configuration of its
    second stage (``full_<study>.refine.json``) that names the folder as its run, else that stage's winner, else
    the study's best trial (``.best.json``)."""
    if folder.startswith("tuned_"):
        multi = folder.endswith("_multi")
        stem = folder.removeprefix("tuned_").removesuffix("_multi")
        family = next(f for f in studies.FAMILIES if stem == f or stem.startswith(f"{f}_"))
        refined = STUDIES / f"full_{stem}.refine.json"
        rows = json.loads(refined.read_text()) if refined.is_file() and not multi else []
        params = next((r["params"] for r in rows if r.get("run") == folder), rows[0]["params"] if rows else
                      json.loads((STUDIES / f"full_{stem}.best.json").read_text())["params"])
        overrides = studies.SPACES[family](FixedTrial(params)) | ({"target": "multi"} if multi else {})
        return studies.FAMILIES[family], overrides
    base, seed = re.fullmatch(r"(.+?)(?:_seed(\d+))?", folder).groups()
    overrides: dict = {"train.seed": int(seed)} if seed else {}
    if base not in EXPERIMENTS and base.endswith("_multi"):
        base, overrides["target"] = base.removesuffix("_multi"), "multi"
    assert base in EXPERIMENTS, f"committed run {folder!r} has no registered experiment"
    return base, overrides


def check_rnn(exp: registry.Experiment, config: dict) -> None:
    model = {k: v for k, v in config["model_config"].items() if k not in FILLED_IN}
    assert model == {k: v for k, v in dataclasses.asdict(exp.model).items() if k not in FILLED_IN}
    train = dict(config["train_config"])
    registered = dataclasses.asdict(exp.train)
    for key in RUNTIME:
        train.pop(key)
        registered.pop(key, None)
    # options added after a run was trained are absent from its config: it ran with their defaults
    defaults = {k: v for k, v in dataclasses.asdict(TrainConfig()).items() if k in registered and k not in train}
    assert {**defaults, **train} == registered
    embeddings = config["embeddings"] if config["embeddings"] != "random" else None
    assert (config["tokenizer"], embeddings, config["max_length"]) == dataclasses.astuple(exp.text)


def check_tfidf(exp: registry.Experiment, config: dict) -> None:
    registered = json.loads(json.dumps(dataclasses.asdict(exp.train)))  # tuples as the JSON lists stored
    assert {k: config[k] for k in registered} == registered
    assert ("augment" in config) == exp.augment
    if exp.augment:
        assert config["augment"] == dataclasses.asdict(AugmentConfig(seed=exp.seed))


def check_transformer(exp: registry.Experiment, config: dict) -> None:
    ft = dict(config["ft"])
    registered = dataclasses.asdict(dataclasses.replace(exp.train, target=exp.target))
    start = ft.pop("model_name")
    if exp.init_from:
        assert start == f"notebook_outputs/runs/{exp.init_from}/model"
    else:
        assert start == registered["model_name"]
    registered.pop("model_name")
    for key in RUNTIME:
        ft.pop(key, None)
        registered.pop(key, None)
    assert ft == registered
    assert config["result"]["train_rows"] == (exp.train_rows or TRAIN_ROWS[exp.labels])


def derived(folder: str) -> bool:
    """A run folder computed from other runs' predictions, not trained: an ensemble, or a 28-label run's groups."""
    config = json.loads((COMMITTED / folder / "config.json").read_text())
    return config.get("model") == "ensemble" or "grouped_from" in config


FOLDERS = sorted(p.parent.name for p in COMMITTED.glob("*/config.json"))
TRAINED = [f for f in FOLDERS if not derived(f)]


@pytest.mark.parametrize("folder", TRAINED)
def test_registered_full_settings_produced_the_committed_runs(folder: str) -> None:
    name, overrides = committed_experiment(folder)
    exp = configure(name, "full", overrides)
    assert exp.run_name == folder or folder.startswith("tuned_")
    recorded = json.loads((COMMITTED / folder / "config.json").read_text()).get("experiment")
    if recorded:  # runs written since runs record their settings
        assert (recorded["name"], recorded["settings"]) == (name, registry.jsonable(exp.settings()))
    config = json.loads((COMMITTED / folder / "config.json").read_text())
    assert config["target"] == exp.target and config.get("labels", "ekman") == exp.labels
    {"rnn": check_rnn, "tfidf": check_tfidf, "transformer": check_transformer}[exp.family](exp, config)


def test_every_registered_experiment_has_a_committed_run() -> None:
    folders = {p.parent.name for p in COMMITTED.glob("*/config.json")}
    if not folders:
        pytest.skip("no committed runs in this checkout")
    assert {committed_experiment(f)[0] for f in folders if not derived(f)} == set(EXPERIMENTS) - NOT_YET_RUN


@pytest.mark.parametrize("folder", [f for f in FOLDERS if derived(f)])
def test_a_derived_run_names_committed_runs_as_its_sources(folder: str) -> None:
    config = json.loads((COMMITTED / folder / "config.json").read_text())
    sources = list(config["members"]) if config.get("model") == "ensemble" else [config["grouped_from"]]
    assert sources and all((COMMITTED / s / "metrics.json").is_file() for s in sources), sources


# ------------------------------------------------------------------------------------------ overrides
def test_dotted_overrides_apply_and_leave_the_registry_alone() -> None:
    exp = configure("bigru_minilm", "quick", {"train.epochs": 1, "model.hidden_dim": 8, "text.max_length": 32,
                                              "target": "multi", "train.learning_rate": 1e-3})
    assert (exp.train.epochs, exp.model.hidden_dim, exp.text.max_length) == (1, 8, 32)
    assert (exp.target, exp.train.learning_rate) == ("multi", 1e-3)
    assert exp.model.arch == "gru" and exp.train.batch_size == 64, "other settings kept"
    registered = EXPERIMENTS["bigru_minilm"]
    assert (registered.train.epochs, registered.model.hidden_dim, registered.target) == (6, 256, "single")


def test_misspelt_override_names_the_key_and_suggests_the_right_one() -> None:
    with pytest.raises(ValueError, match=r"'train\.learnig_rate'.*did you mean 'train\.learning_rate'"):
        configure("bigru_minilm", "quick", {"train.learnig_rate": 1e-3})
    with pytest.raises(ValueError, match=r"'text\.max_length'"):
        configure("tfidf_single", "quick", {"text.max_length": 32})  # TF-IDF reads no token ids


@pytest.mark.parametrize(("name", "override", "message"), [
    ("bigru_minilm", {"train.epochs": "3"}, "train.epochs must be of type int, got '3' (str)"),
    ("bigru_minilm", {"train.epochs": 2.5}, "train.epochs must be of type int, got 2.5 (float)"),
    ("bigru_minilm", {"train.learning_rate": "1e-3"}, "train.learning_rate must be of type float, got '1e-3' (str)"),
    ("bigru_minilm", {"model.bidirectional": 1}, "model.bidirectional must be of type bool, got 1 (int)"),
    ("bigru_minilm", {"text.embeddings": 3}, "text.embeddings must be of type str or None, got 3 (int)"),
    ("bigru_minilm", {"augment": "yes"}, "augment must be of type bool, got 'yes' (str)"),
    ("tfidf_single", {"train_rows": "200"}, "train_rows must be of type int or None, got '200' (str)"),
    ("tfidf_single", {"train.min_df": True}, "train.min_df must be of type int, got True (bool)"),
])
def test_an_override_of_another_type_names_the_setting_and_its_type(name: str, override: dict,
                                                                     message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"experiment {name!r}: {message}")):
        configure(name, "quick", override)


@pytest.mark.parametrize(("name", "override", "message"), [
    ("tfidf_single", {"train_rows": -5}, "train_rows must be an integer >= 1 or None, got -5"),
    ("bigru_minilm", {"train_rows": 0}, "train_rows must be an integer >= 1 or None, got 0"),
    ("bigru_minilm", {"train.epochs": 0}, "train.epochs must be an integer >= 1, got 0"),
    ("bigru_minilm", {"train.batch_size": -1}, "train.batch_size must be an integer >= 1, got -1"),
    ("bigru_minilm", {"train.learning_rate": 0}, "train.learning_rate must be a number > 0, got 0"),
    ("bigru_minilm", {"model.hidden_dim": 0}, "model.hidden_dim must be an integer >= 1, got 0"),
    ("bigru_minilm", {"model.dropout": 1.5}, "model.dropout must be a number in [0, 1], got 1.5"),
    ("bigru_minilm", {"text.max_length": 0}, "text.max_length must be an integer >= 1, got 0"),
    ("xlstm_minilm", {"model.input_dim": 0}, "model.input_dim must be an integer >= 1 or None, got 0"),
    ("transformer_minilm_single", {"train.epochs": 0}, "train.epochs must be a number > 0, got 0"),
    ("transformer_minilm_single", {"train.learning_rate": -1e-4}, "train.learning_rate must be a number > 0"),
    ("transformer_minilm_single", {"train.warmup_ratio": 2}, "train.warmup_ratio must be a number in [0, 1]"),
    ("transformer_minilm_single", {"train.max_length": 4}, "train.max_length must be an integer >= 8, got 4"),
    ("tfidf_single", {"train.min_df": 0}, "train.min_df must be an integer >= 1, got 0"),
])
def test_an_override_out_of_range_names_the_setting_and_its_range(name: str, override: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"experiment {name!r}: {message}")):
        configure(name, "quick", override)


def test_overrides_in_range_and_of_the_field_types_apply() -> None:
    exp = configure("bigru_minilm", "quick", {"train_rows": 100, "train.learning_rate": 1, "model.dropout": 0.0,
                                              "text.embeddings": None, "train.num_threads": None})
    assert (exp.train_rows, exp.train.learning_rate, exp.model.dropout, exp.text.embeddings) == (100, 1, 0.0, None)
    assert configure("transformer_minilm_single", "quick", {"train.epochs": 0.5}).train.epochs == 0.5, \
        "a fine-tuning may stop within an epoch"
    assert configure("xlstm_minilm", "quick", {"model.input_dim": None}).model.input_dim is None


def test_run_experiments_refuses_a_bad_override_before_anything_trains(sample: dict, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    with pytest.raises(ValueError, match=re.escape("'bigru_minilm': train.epochs must be of type int, got '3'")):
        run_experiments(["tfidf_single", "bigru_minilm"], sample, "quick", {"train.epochs": "3"}, runs_dir=runs)
    assert not runs.exists(), "the TF-IDF run (which has no train.epochs) did not run first"


def test_unknown_experiment_is_a_key_error_with_suggestions() -> None:
    with pytest.raises(KeyError, match=r"'bigru_minlm'.*did you mean.*'bigru_minilm'"):
        configure("bigru_minlm")
    with pytest.raises(ValueError, match="profile"):
        configure("bigru_minilm", "fast")


def test_run_experiments_refuses_an_override_no_experiment_has(sample: dict, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    typo = r"none of the experiments.*'model\.hiden_dim'.*did you mean 'model\.hidden_dim'"
    with pytest.raises(ValueError, match=typo):
        run_experiments(["tfidf_single", "bigru_minilm"], sample, "quick", {"model.hiden_dim": 8}, runs_dir=runs)
    assert not runs.exists(), "refused before anything trained"


def test_an_override_only_some_experiments_have_applies_only_to_them(sample: dict, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[registry.Experiment] = []

    def record(exp: registry.Experiment, splits: dict, runs_dir: Path, resume: bool, **kw: object) -> RunResult:
        ran.append(exp)
        return RunResult(name=exp.run_name, dev={}, test={}, test_probs=np.zeros((0, 7)), test_pred=np.zeros(0))

    monkeypatch.setattr(registry, "run_experiment", record)
    results = run_experiments(["tfidf_single", "bigru_minilm"], sample, "quick",
                              {"model.hidden_dim": 8, "train.epochs": 1, "target": "multi"}, runs_dir=tmp_path)
    assert list(results) == ["tfidf_multi", "bigru_minilm_multi"]
    tfidf, rnn = ran
    assert tfidf == configure("tfidf_single", "quick", {"target": "multi"})
    assert (rnn.model.hidden_dim, rnn.train.epochs, rnn.target) == (8, 1, "multi")


def test_overview_lists_settings_side_by_side() -> None:
    table = overview(["tfidf_single", "bigru_minilm"], "quick")
    assert list(table.columns) == ["tfidf_single", "bigru_minilm"]
    assert table.loc["model.hidden_dim", "bigru_minilm"] == 32
    assert pd.isna(table.loc["model.hidden_dim", "tfidf_single"])


# ------------------------------------------------------------------------------------------ run names
@pytest.mark.parametrize(("name", "overrides", "run_name"), [
    ("tfidf_single", {}, "tfidf_single"),
    ("tfidf_single", {"target": "multi"}, "tfidf_multi"),  # _multi replaces _single
    ("tfidf_multi", {}, "tfidf_multi"),  # never _multi_multi
    ("bigru_minilm", {"target": "multi"}, "bigru_minilm_multi"),
    ("bilstm2_bf16_exact", {"train.seed": 2}, "bilstm2_bf16_exact_seed2"),
    ("bigru_minilm", {"target": "multi", "train.seed": 1}, "bigru_minilm_multi_seed1"),
    ("tfidf_single", {"train.seed": 0}, "tfidf_single"),
    ("tfidf_multi", {"target": "single"}, "tfidf_single"),  # never a single-label run in a _multi folder
    ("transformer_minilm_multi", {"target": "single"}, "transformer_minilm_single"),
])
def test_run_name(name: str, overrides: dict, run_name: str) -> None:
    assert configure(name, "quick", overrides).run_name == run_name


# ------------------------------------------------------------------------------------------ running
FAST = {"train.epochs": 1, "train.Cs": [1.0]}  # one RNN epoch; TF-IDF fits one C


@pytest.fixture(scope="module")
def trained(sample: dict, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, RunResult]]:
    """One TF-IDF and one RNN experiment (single-label) and a multi-label RNN, trained once for this module."""
    runs = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        results = run_experiments(["tfidf_single", "bigru_minilm"], sample, "quick", FAST, runs_dir=runs)
        results |= run_experiments(["bigru_random"], sample, "quick", {"train.epochs": 1, "target": "multi"},
                                   runs_dir=runs)
    return runs, results


def test_run_experiments_writes_run_folders(trained: tuple, sample: dict) -> None:
    runs, results = trained
    assert list(results) == ["tfidf_single", "bigru_minilm", "bigru_random_multi"]
    fingerprint = data_fingerprint(sample)
    for name, result in results.items():
        assert result.name == name and result.run_dir == runs / name
        for file in ("config.json", "metrics.json", "test_predictions.csv.gz", "dev_predictions.csv.gz"):
            assert (runs / name / file).is_file(), f"{name}: {file}"
        config = json.loads((runs / name / "config.json").read_text())
        assert config["data"]["sha256"] == fingerprint["sha256"], f"{name}: the data it trained on"
        assert config["data"]["n_train"] == len(sample["train"])
    tfidf = json.loads((runs / "tfidf_single" / "config.json").read_text())
    assert tfidf["Cs"] == [1.0] and tfidf["target"] == "single"
    rnn = json.loads((runs / "bigru_minilm" / "config.json").read_text())
    assert rnn["model_config"]["hidden_dim"] == 32 and rnn["epochs_run"] == 1, "quick profile + override"
    assert results["bigru_random_multi"].target == "multi"


def assert_same_result(loaded: RunResult, result: RunResult) -> None:
    assert (loaded.name, loaded.target, loaded.run_dir) == (result.name, result.target, result.run_dir)
    assert loaded.dev == json.loads(json.dumps(result.dev)) and loaded.test == json.loads(json.dumps(result.test))
    assert loaded.threshold == result.threshold
    for split in ("dev", "test"):
        np.testing.assert_allclose(getattr(loaded, f"{split}_probs"), getattr(result, f"{split}_probs"),
                                   atol=0.5e-5 + 1e-9, err_msg=f"{split} probabilities (stored to 5 decimals)")
        np.testing.assert_array_equal(getattr(loaded, f"{split}_pred"), getattr(result, f"{split}_pred"))
        np.testing.assert_array_equal(getattr(loaded, f"y_{split}"), getattr(result, f"y_{split}"))


def test_load_result_round_trips_a_single_label_run(trained: tuple, sample: dict) -> None:
    runs, results = trained
    for name in ("tfidf_single", "bigru_minilm"):
        loaded = load_result(runs / name)
        assert_same_result(loaded, results[name])
        assert loaded.extra["test_ids"] == sample["test"]["comment_id"].astype(str).tolist()
    assert len(load_result(runs / "bigru_minilm").history) == 1, "the epoch history comes back"


def test_load_result_round_trips_a_multi_label_run(trained: tuple, sample: dict) -> None:
    runs, results = trained
    loaded = load_result(runs / "bigru_random_multi")
    assert loaded.target == "multi" and loaded.threshold is not None
    assert loaded.y_test.shape == (len(sample["test"]), 7) and set(np.unique(loaded.y_test)) <= {0, 1}
    assert loaded.test_pred.shape == loaded.y_test.shape and loaded.y_dev.shape == (len(sample["dev"]), 7)
    assert_same_result(loaded, results["bigru_random_multi"])


@pytest.mark.parametrize("folder", ["tfidf_single", "bigru_minilm_multi"])
def test_load_result_reads_a_committed_run_without_dev_predictions(folder: str) -> None:
    run_dir = COMMITTED / folder
    if not (run_dir / "metrics.json").exists() or (run_dir / "dev_predictions.csv.gz").exists():
        pytest.skip(f"{folder}: no committed run without dev predictions")
    loaded = load_result(run_dir)
    assert loaded.name == folder and loaded.dev_probs is None and loaded.dev_pred is None and loaded.y_dev is None
    n = len(loaded.extra["test_ids"])
    assert loaded.test_probs.shape == (n, 7)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert loaded.test == metrics["test"] and loaded.threshold == metrics["dev"].get("threshold")
    if loaded.target == "multi":
        assert loaded.y_test.shape == (n, 7) and loaded.test_pred.shape == (n, 7)
    else:
        assert loaded.y_test.shape == (n,) and loaded.test["accuracy"] == pytest.approx(
            float(np.mean(loaded.y_test == loaded.test_pred)))


# ------------------------------------------------------------------------------------------ run_or_load, finished
@pytest.fixture
def one_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registered TF-IDF experiment, fitting one C (seconds on the sample)."""
    exp = EXPERIMENTS["tfidf_single"]
    monkeypatch.setitem(EXPERIMENTS, "tfidf_single", dataclasses.replace(
        exp, train=dataclasses.replace(exp.train, Cs=(1.0,))))


def test_run_or_load_reads_a_finished_run_instead_of_retraining(sample: dict, tmp_path: Path, one_c: None,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture) -> None:
    first = run_or_load("tfidf_single", sample, "quick")
    assert first.run_dir == quick_runs_dir(tmp_path) / "tfidf_single"

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(TfidfTrainer, "fit", no_training)
    capsys.readouterr()
    again = run_or_load("tfidf_single", sample, "quick")
    assert "read from" in capsys.readouterr().out
    assert again.name == "tfidf_single"
    np.testing.assert_array_equal(again.test_pred, first.test_pred)
    assert again.test == json.loads(json.dumps(first.test))
    other = {**sample, "train": subsample(sample["train"], 200)}
    with pytest.raises(AssertionError, match="trained again"):
        run_or_load("tfidf_single", other, "quick")  # other data: trains


def test_run_experiments_reads_finished_runs_of_every_family_and_trains_the_rest(
        sample: dict, tmp_path: Path, one_c: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """``resume=True``: a finished run (same settings and data) is read, TF-IDF and RNN alike, even with no
    checkpoint left (an RNN run whose checkpoints were deleted)."""
    from src_helpers.training.loop import RnnTrainer

    names = ["tfidf_single", "bigru_random"]
    first = run_experiments(names, sample, "quick", {"train.epochs": 1}, resume=True)
    for run in first.values():
        shutil.rmtree(run.run_dir / "checkpoints", ignore_errors=True)

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(TfidfTrainer, "fit", no_training)
    monkeypatch.setattr(RnnTrainer, "fit", no_training)
    again = run_experiments(names, sample, "quick", {"train.epochs": 1}, resume=True)
    for name in first:
        np.testing.assert_allclose(again[name].test_probs, first[name].test_probs, atol=1e-5)
    with pytest.raises(AssertionError, match="trained again"):
        run_experiments(["bigru_random"], sample, "quick", {"train.epochs": 2}, resume=True)  # other settings
    with pytest.raises(AssertionError, match="trained again"):
        run_experiments(["tfidf_single"], sample, "quick", resume=False)  # resume=False: always trains


def test_finished_only_for_the_same_data(sample: dict, tmp_path: Path, one_c: None) -> None:
    assert finished("tfidf_single", sample) is None, "nothing run yet"
    run_experiments(["tfidf_single"], sample, "quick")
    assert finished("tfidf_single", sample).name == "tfidf_single"
    assert finished("tfidf_single", {**sample, "train": subsample(sample["train"], 200)}) is None
    assert finished("tfidf_single", {**sample, "test": sample["test"].iloc[:-1]}) is None
    assert finished("tfidf_multi", sample) is None, "another experiment's folder"


def test_finished_accepts_a_run_without_fingerprint_by_its_test_ids(sample: dict, tmp_path: Path,
                                                                     one_c: None) -> None:
    """Runs written before configs stored the data (the committed TF-IDF runs): same test ids, same order."""
    run_experiments(["tfidf_single"], sample, "quick")
    config_file = quick_runs_dir(tmp_path) / "tfidf_single" / "config.json"
    config = json.loads(config_file.read_text())
    config["data"] = None  # never recorded
    config_file.write_text(json.dumps(config))
    assert finished("tfidf_single", sample) is not None
    reordered = {**sample, "test": sample["test"].iloc[::-1]}
    assert finished("tfidf_single", reordered) is None


def test_finished_reads_the_multi_label_variant_of_a_run_without_recorded_settings(sample: dict, tmp_path: Path,
                                                                                   one_c: None) -> None:
    """An old run folder (no settings, no data recorded) of ``<experiment>`` with ``target="multi"`` is that
    experiment's multi-label run, not another configuration."""
    run_experiments(["tfidf_single"], sample, "quick", {"target": "multi"})
    config_file = quick_runs_dir(tmp_path) / "tfidf_multi" / "config.json"
    config = json.loads(config_file.read_text())
    del config["experiment"]
    config_file.write_text(json.dumps({**config, "data": None}))
    exp = configure("tfidf_single", "quick", {"target": "multi"})
    assert finished(exp, sample, "quick") is not None
    assert finished(configure("tfidf_single", "quick"), sample, "quick", run_name="tfidf_multi") is None


def test_finished_only_for_the_same_settings(sample: dict, tmp_path: Path, one_c: None) -> None:
    """A run of the experiment with other settings (here min_df) is not the experiment's finished run."""
    run_experiments(["tfidf_single"], sample, "quick", {"train.min_df": 1})
    recorded = json.loads((quick_runs_dir(tmp_path) / "tfidf_single" / "config.json").read_text())["experiment"]
    assert recorded["name"] == "tfidf_single" and recorded["settings"]["train.min_df"] == 1
    assert finished("tfidf_single", sample) is None
    run_experiments(["tfidf_single"], sample, "quick")
    assert finished("tfidf_single", sample) is not None

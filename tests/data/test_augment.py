"""Augmentation logic, tested with TextAttack's fast deletion recipe; one WordNet test when the data exists."""

from __future__ import annotations

import copy
import importlib.util
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from src_helpers.data import augment as A
from src_helpers.data import textattack_recipes as R
from src_helpers.data.augment import AugmentConfig, augment_splits, augment_train, class_table, target_counts
from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.data.goemotions import load_goemotions
from tools.nltk_setup import DEBIAN_WORDNET, prepare_nltk_data

# sample train made imbalanced: anger 30, disgust 10, fear 5, joy 49, sadness 20, surprise 49, neutral 48
KEEP = {"anger": 30, "disgust": 10, "fear": 5, "sadness": 20}
CONFIG = AugmentConfig(recipe="deletion", target=20, seed=0)
# TextAttack is the optional 'augment' extra (flair in its dependencies needs transformers<5)
HAVE_TEXTATTACK = importlib.util.find_spec("textattack") is not None
NO_TEXTATTACK = "TextAttack is not installed (optional extra: pip install -e '.[augment]')"
needs_textattack = pytest.mark.skipif(not HAVE_TEXTATTACK, reason=NO_TEXTATTACK)


@pytest.fixture(scope="module", autouse=True)
def nltk_dir(tmp_path_factory: pytest.TempPathFactory):
    """NLTK data (stopwords; WordNet when Debian's files exist) in a tmp folder, not the repo."""
    folder = tmp_path_factory.mktemp("nltk_data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NLTK_DATA", str(folder))
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield folder


@pytest.fixture(scope="module")
def splits() -> dict[str, pd.DataFrame]:
    s = load_goemotions(source="sample")
    train = s["train"]
    parts = [g.head(KEEP.get(label, len(g))) for label, g in train.groupby("ekman_label", sort=False)]
    small = pd.concat(parts).sort_index()
    small.attrs = dict(train.attrs)
    return {**s, "train": small}


@pytest.fixture(scope="module")
def augmented(splits: dict, tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    if not HAVE_TEXTATTACK:
        pytest.skip(NO_TEXTATTACK)
    cache = tmp_path_factory.mktemp("aug_cache")
    return augment_train(splits["train"], CONFIG, n_workers=1, cache_dir=cache, progress=False,
                         split="train"), cache


def test_target_counts_count_fraction_and_never_above() -> None:
    counts = pd.Series({0: 100, 1: 10, 2: 30, 3: 0})
    assert target_counts(counts, 25) == {1: 25}
    assert target_counts(counts, 0.35) == {1: 35, 2: 35}  # floor(0.35 * 100)
    assert target_counts(counts, 1.0) == {1: 100, 2: 100}
    assert target_counts(counts, 5) == {}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"recipe": "magic"}, "recipe must be one of"),
    ({"target": 0}, "target must be"),
    ({"target": 1.5}, "target must be"),
    ({"target": True}, "target must be"),
    ({"pct_words_to_swap": 0.0}, "pct_words_to_swap"),
])
def test_bad_config(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AugmentConfig(**kwargs)


def test_recipe_names() -> None:
    assert R.recipe_key("EasyDataAugmenter") == R.recipe_key("eda") == "eda"
    assert R.recipe_key("CharSwapAugmenter") == "charswap"


@pytest.mark.parametrize("recipe", ["EmbeddingAugmenter", "backtranslation", "clare", "checklist"])
def test_download_recipes_explain_why_offline(recipe: str) -> None:
    with pytest.raises(R.RecipeUnavailableError, match=r"downloads .* not reachable \(offline\)"):
        R.build_augmenter(recipe)


def test_missing_textattack_says_how_to_install_it(splits: dict, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "textattack", None)  # as if the optional 'augment' extra were not installed
    for workers in (1, 2):  # the check runs before any worker process starts
        with pytest.raises(ImportError, match=r"not installed.*pip install -e '\.\[augment\]'.*INSTALL_AUGMENT"):
            augment_train(splits["train"], CONFIG, n_workers=workers, cache_dir=tmp_path / str(workers),
                          progress=False, split="train")
    with pytest.raises(ImportError, match=r"pip install -e '\.\[augment\]'"):
        R.build_augmenter("deletion")


def test_exact_targets_and_untouched_classes(splits: dict, augmented: tuple) -> None:
    out, _ = augmented
    table = class_table(splits["train"], out, CONFIG)
    assert table.loc["disgust", "after"] == table.loc["fear", "after"] == 20
    assert table.loc["sadness", "added"] == 0, "a class at the target gets nothing"
    assert (table.loc[["anger", "joy", "surprise", "neutral"], "added"] == 0).all()
    assert table["added"].sum() == (out["augmented"]).sum() == 10 + 15
    assert out.attrs["augment_shortfall"] == {}


def test_variants_are_spread_evenly(augmented: tuple) -> None:
    out, _ = augmented
    per_source = out[out["augmented"]].groupby(["ekman_label", "source_id"]).size()
    assert per_source["disgust"].tolist() == [1] * 10
    assert per_source["fear"].tolist() == [3] * 5


def test_no_duplicates_and_no_copies_of_a_source(augmented: tuple) -> None:
    out, _ = augmented
    norm = out["text"].str.lower().str.split().str.join(" ")
    assert norm.is_unique, "no variant repeats another variant or any original"
    assert (out.loc[out["augmented"], "text"].str.strip() != "").all()


def test_provenance_and_inherited_labels(splits: dict, augmented: tuple) -> None:
    out, _ = augmented
    train = splits["train"]
    n = len(train)
    assert not out["augmented"].iloc[:n].any() and out["augmented"].iloc[n:].all()
    assert out["text"].iloc[:n].tolist() == train["text"].tolist(), "originals first, unchanged"
    assert out["comment_id"].is_unique and set(out.loc[out["augmented"], "aug_recipe"]) == {"deletion"}
    by_id = train.set_index("comment_id")
    for _, row in out[out["augmented"]].iterrows():
        src = by_id.loc[row["source_id"]]
        assert train["comment_id"].iloc[row["source_row"]] == row["source_id"]
        assert (row["labels"], row["ekman"], row["ekman_groups"]) == (src["labels"], src["ekman"],
                                                                      src["ekman_groups"])
        assert row["comment_id"].startswith(row["source_id"] + "~aug")
    assert set(A.examples(out)["class"]) == {"disgust", "fear"}


def test_cache_hit_is_fast_and_skips_generation(splits: dict, augmented: tuple,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    out, cache = augmented
    assert len(list(cache.glob("deletion_*.parquet"))) == 1
    monkeypatch.setattr(A, "select_variants", lambda *a, **k: pytest.fail("cache not used"))
    start = time.perf_counter()
    again = augment_train(splits["train"], CONFIG, n_workers=1, cache_dir=cache, progress=False, split="train")
    assert time.perf_counter() - start < 2
    pd.testing.assert_frame_equal(again, out)


def test_cache_key_changes_with_data_recipe_params_and_seed(splits: dict) -> None:
    train = splits["train"]
    key = A.cache_key(train, CONFIG)
    assert key == A.cache_key(train.copy(), AugmentConfig(recipe="DeletionAugmenter", target=20))
    edited = train.copy()
    edited.iloc[0, edited.columns.get_loc("text")] = "changed"
    others = [A.cache_key(edited, CONFIG), A.cache_key(train, AugmentConfig(recipe="charswap", target=20)),
              A.cache_key(train, AugmentConfig(recipe="deletion", target=21)),
              A.cache_key(train, AugmentConfig(recipe="deletion", target=20, pct_words_to_swap=0.2)),
              A.cache_key(train, AugmentConfig(recipe="deletion", target=20, seed=1))]
    assert len({key, *others}) == 6


def test_deterministic_per_seed(splits: dict, augmented: tuple, tmp_path: Path) -> None:
    out, _ = augmented
    same = augment_train(splits["train"], CONFIG, n_workers=1, cache_dir=tmp_path / "a", progress=False,
                         split="train")
    pd.testing.assert_frame_equal(same, out)
    other = augment_train(splits["train"], AugmentConfig(recipe="deletion", target=20, seed=1), n_workers=1,
                          cache_dir=tmp_path / "b", progress=False, split="train")
    assert other.loc[other["augmented"], "text"].tolist() != out.loc[out["augmented"], "text"].tolist()


@needs_textattack
def test_only_train_is_augmented(splits: dict, tmp_path: Path) -> None:
    before = {name: copy.deepcopy(df) for name, df in splits.items()}
    out = augment_splits(splits, CONFIG, n_workers=1, cache_dir=tmp_path, progress=False)
    assert out["dev"] is splits["dev"] and out["test"] is splits["test"]
    for name in ("dev", "test"):
        pd.testing.assert_frame_equal(out[name], before[name])
        assert "augmented" not in out[name]
    pd.testing.assert_frame_equal(splits["train"], before["train"])  # the input is not modified
    assert out["train"]["augmented"].sum() == 25
    with pytest.raises(ValueError, match="only the train split"):
        augment_train(splits["dev"], CONFIG, cache_dir=tmp_path, split="dev")


@pytest.mark.parametrize("split", ["dev", "test", "Train", None])
def test_the_train_only_guard_fails_closed_without_attrs(splits: dict, split: str | None, tmp_path: Path) -> None:
    """The guard reads the explicit ``split`` argument, not ``attrs`` (pandas drops them on many operations):
    a frame without attrs is refused unless the caller says it is the train split."""
    dev = splits["dev"].copy()
    dev.attrs = {}
    with pytest.raises(ValueError, match="only the train split"):
        augment_train(dev, CONFIG, cache_dir=tmp_path, split=split)
    with pytest.raises(ValueError, match="only the train split"):  # no split argument: no silent pass
        augment_train(dev, CONFIG, cache_dir=tmp_path)
    assert not list(tmp_path.iterdir()), "nothing is augmented or cached"


def test_split_argument_contradicting_attrs_is_refused(splits: dict, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'dev' split"):
        augment_train(splits["dev"], CONFIG, cache_dir=tmp_path, split="train")


@needs_textattack
def test_short_texts_run_dry_and_stop_below_target(tmp_path: Path) -> None:
    rows = [("Yikes", 1), ("Ugh", 1)] + [(f"what a lovely sunny day number {i}", 3) for i in range(6)]
    train = pd.DataFrame({"text": [t for t, _ in rows], "ekman": [c for _, c in rows],
                          "comment_id": [f"c{i}" for i in range(len(rows))]})
    with pytest.warns(UserWarning, match="stopped short"):
        out = augment_train(train, AugmentConfig(recipe="deletion", target=1.0, max_rounds=2), n_workers=1,
                            cache_dir=tmp_path, progress=False, split="train")
    assert (out["ekman"] == 1).sum() <= 6, "never above the target"
    assert out.attrs["augment_shortfall"][1] >= 1


@pytest.mark.slow
@needs_textattack
def test_two_worker_processes_give_the_same_variants(tmp_path: Path) -> None:
    jobs = [("I really do not like this new policy at all", "x1", 2, 0, 7),
            ("my neighbour's dog barks the whole night long", "x2", 1, 0, 7)] * 3
    in_process = R.Generator(CONFIG, n_workers=1, progress=False)(jobs)
    with R.Generator(CONFIG, n_workers=2, progress=False) as gen:
        assert gen(jobs) == in_process
    assert in_process[0] == in_process[2] and len(in_process[0]) > len(in_process[1])


@pytest.mark.skipif(not (DEBIAN_WORDNET / "data.noun").exists(),
                    reason="WordNet not installed (Debian packages wordnet-base, wordnet-sense-index)")
@needs_textattack
@pytest.mark.slow
def test_easy_data_augmenter_with_wordnet(nltk_dir: Path) -> None:
    prepare_nltk_data(nltk_dir)
    aug = R.build_augmenter("EasyDataAugmenter")
    text = "[NAME] honestly that movie was terrible and it made me really angry"
    first = R.variants_for(aug, text, "id1", 2, 0, 0)
    assert first == R.variants_for(aug, text, "id1", 2, 0, 0), "seeded"
    assert 4 <= len(first) <= 8 and text not in first
    assert all("[NAME]" in v or not v.startswith("[") for v in first), "the mask is not replaced by a synonym"
    assert R.variants_for(aug, text, "id1", 2, 0, 1) != first
    assert len(EKMAN_LABELS) == 7


def test_ablation_table_and_examples(augmented: tuple) -> None:
    from src_helpers.evaluation.metrics import single_label_report

    y = [0, 1, 2, 2, 3]
    base, aug = single_label_report(y, [0, 0, 2, 3, 3]), single_label_report(y, [0, 1, 2, 2, 3])
    table = A.ablation_table({"without": base, "with": aug}, ["disgust", "fear"], {"without": base, "with": base})
    assert list(table.columns) == ["without", "with", "difference"]
    assert table.loc["test F1 disgust", "difference"] == pytest.approx(1.0)
    assert table.loc["test macro-F1", "with"] == aug["macro_f1"] and table.loc["dev macro-F1", "difference"] == 0
    out, _ = augmented
    ex = A.examples(out, per_class=2)
    assert len(ex) == 4 and (ex["original"] != ex["variant"]).all()
    assert A.augmented_classes(class_table(out[~out["augmented"]], out, CONFIG)) == ["disgust", "fear"]

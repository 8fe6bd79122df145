"""Augmenting the train split's classes below a target with TextAttack variants of their own texts, spread evenly
over them; deterministic per seed, cached as parquet. Dev and test are never augmented."""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from src_helpers.config import REPO_ROOT
from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.data.textattack_recipes import RECIPES, Generator, recipe_key, require_textattack

ALGORITHM_VERSION = 2  # part of the cache key: bump when the selection logic changes


@dataclass(frozen=True)
class AugmentConfig:
    """``target``: an int is a count, a float in (0, 1] a fraction of the largest class of ``by``."""

    recipe: str = "eda"
    target: int | float = 0.25
    pct_words_to_swap: float = 0.1
    variants_per_call: int = 4
    seed: int = 0
    by: str = "ekman"
    max_rounds: int = 3  # extra generation rounds when dropped duplicates leave a class short

    def __post_init__(self) -> None:
        if recipe_key(self.recipe) not in RECIPES:
            raise ValueError(f"recipe must be one of {sorted(RECIPES)} (or the TextAttack class name), "
                             f"got {self.recipe!r}")
        t = self.target
        if isinstance(t, bool) or not isinstance(t, int | float) or t <= 0 or (isinstance(t, float) and t > 1):
            raise ValueError(f"target must be a count (int > 0) or a fraction in (0, 1], got {t!r}")
        if not 0 < self.pct_words_to_swap <= 1:
            raise ValueError(f"pct_words_to_swap must be in (0, 1], got {self.pct_words_to_swap}")
        if self.variants_per_call < 1 or self.max_rounds < 1:
            raise ValueError("variants_per_call and max_rounds must be >= 1")


def target_counts(counts: pd.Series, target: int | float) -> dict:
    """Rows to reach per class: ``target`` (int) or ``floor(target * largest)``; classes at or above stay."""
    rows = int(target) if isinstance(target, int) else math.floor(target * counts.max())
    return {c: rows for c, n in counts.items() if 0 < n < rows}


def _norm(text: str) -> str:
    return " ".join(str(text).lower().split())


def select_variants(train: pd.DataFrame, config: AugmentConfig, n_workers: int = 2,
                    progress: bool = True) -> pd.DataFrame:
    """Variant rows ``(source_row, text)``: exactly the target per class unless sources run dry."""
    labels = train[config.by].to_numpy()
    targets = target_counts(pd.Series(labels).value_counts(), config.target)
    ids = train["comment_id"].astype(str).tolist() if "comment_id" in train else [str(i) for i in range(len(train))]
    texts = train["text"].astype(str).tolist()
    rng = np.random.default_rng(config.seed)
    sources = {c: [int(i) for i in rng.permutation(np.flatnonzero(labels == c))] for c in sorted(targets)}
    seen = {_norm(t) for t in texts}
    chosen: dict[int, list[str]] = {s: [] for srcs in sources.values() for s in srcs}
    spares: dict[int, list[str]] = {s: [] for s in chosen}
    calls = dict.fromkeys(chosen, 0)
    dry: set[int] = set()  # sources whose last call gave nothing new

    def wants() -> dict[int, int]:
        out = {}
        for c, srcs in sources.items():
            live = [s for s in srcs if s not in dry]
            short = targets[c] - len(srcs) - sum(len(chosen[s]) for s in srcs)
            if short > 0 and live:  # spread evenly: q or q + 1 each, the least used sources first
                q, extra = divmod(short, len(live))
                live.sort(key=lambda s: len(chosen[s]))  # stable: ties keep the seeded source order
                out.update({s: q + (i < extra) for i, s in enumerate(live)})
        return out

    def take(want: dict[int, int]) -> None:
        for s in want:
            while want[s] > 0 and spares[s]:
                t = spares[s].pop(0)
                if t.strip() and _norm(t) not in seen:
                    seen.add(_norm(t))
                    chosen[s].append(t)
                    want[s] -= 1

    with Generator(config, n_workers, progress) as generate:
        for _ in range(config.max_rounds):
            want = wants()
            take(want)
            n_calls = {s: math.ceil(n / config.variants_per_call) for s, n in want.items() if n > 0}
            if not n_calls:
                break
            jobs = [(texts[s], ids[s], n, calls[s], config.seed) for s, n in n_calls.items()]
            for (s, n), got in zip(n_calls.items(), generate(jobs), strict=True):
                calls[s] += n
                fresh = [t for t in got if t.strip() and _norm(t) not in seen]
                if not fresh:
                    dry.add(s)
                spares[s] += fresh
            take(want)
    for c, srcs in sources.items():  # last resort: spare variants, fewest-used sources first
        while (short := targets[c] - len(srcs) - sum(len(chosen[s]) for s in srcs)) > 0:
            order = sorted((s for s in srcs if spares[s]), key=lambda s: len(chosen[s]))
            if not order:
                break
            take({s: 1 for s in order[:short]})
    rows = [(s, j, t) for s in sorted(chosen) for j, t in enumerate(chosen[s], start=1)]
    return pd.DataFrame(rows, columns=["source_row", "variant", "text"]).astype(
        {"source_row": "int64", "variant": "int64", "text": str})


def cache_key(train: pd.DataFrame, config: AugmentConfig) -> str:
    cols = [c for c in ("text", "comment_id", "labels", config.by, "ekman_groups") if c in train]
    row_hash = pd.util.hash_pandas_object(train[cols].astype(str), index=False).to_numpy()
    params = json.dumps({**asdict(config), "recipe": recipe_key(config.recipe), "v": ALGORITHM_VERSION},
                        sort_keys=True)
    return hashlib.sha256(row_hash.tobytes() + params.encode()).hexdigest()[:20]


def assemble(train: pd.DataFrame, variants: pd.DataFrame, recipe: str) -> pd.DataFrame:
    """Originals, then the variants (their source's columns); adds ``augmented``, ``source_id/row``, ``aug_recipe``."""
    ids = train["comment_id"].astype(str) if "comment_id" in train else pd.Series(range(len(train))).astype(str)
    orig = train.reset_index(drop=True).assign(augmented=False, source_id=ids.to_numpy(),
                                               source_row=np.arange(len(train)), aug_recipe="")
    new = orig.iloc[variants["source_row"].to_numpy()].copy()
    new["text"] = variants["text"].to_numpy()
    new["augmented"], new["aug_recipe"] = True, recipe_key(recipe)
    if "comment_id" in new:
        new["comment_id"] = [f"{s}~aug{j}" for s, j in zip(new["source_id"], variants["variant"], strict=True)]
    out = pd.concat([orig, new], ignore_index=True)
    out.attrs = {**train.attrs, "augmented_with": recipe_key(recipe)}
    return out


def augment_train(train: pd.DataFrame, config: AugmentConfig | None = None, n_workers: int = 2,
                  cache_dir: str | Path | None = None, progress: bool = True, *,
                  split: str | None = None) -> pd.DataFrame:
    """The train split plus variants bringing each class below the target up to it (see ``assemble``). Fails
    closed: only an explicit ``split="train"`` allows it; ``train.attrs`` can only add a refusal."""
    if split != "train":
        got = "no split argument" if split is None else f"split={split!r}"
        raise ValueError(f"only the train split is augmented: pass split='train' for it ({got} given)")
    if train.attrs.get("split") not in (None, "train"):
        raise ValueError(f"only the train split is augmented: split='train' given for a frame loaded as the "
                         f"{train.attrs['split']!r} split")
    config = config or AugmentConfig()
    if missing := [c for c in ("text", config.by) if c not in train]:
        raise ValueError(f"train is missing columns {missing}")
    cache_dir = cache_dir or Path(os.environ.get("SRC_HELPERS_OUTPUT_ROOT") or REPO_ROOT) / ".cache" / "augment"
    cache = Path(cache_dir) / f"{recipe_key(config.recipe)}_{cache_key(train, config)}.parquet"
    if cache.exists():
        variants = pd.read_parquet(cache)
    else:
        require_textattack()  # before any worker process starts
        variants = select_variants(train, config, n_workers, progress)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        variants.to_parquet(tmp, index=False)
        tmp.replace(cache)
    out = assemble(train, variants, config.recipe)
    after = out[config.by].value_counts()
    if short := {c: g - int(after[c]) for c, g in target_counts(train[config.by].value_counts(),
                                                                 config.target).items() if after[c] < g}:
        warnings.warn(f"augmentation stopped short of the target {short} ({config.by}: rows missing): "
                      "the sources ran out of new variants", stacklevel=2)
    out.attrs.update(augment_cache=str(cache), augment_shortfall=short)
    return out


def augment_splits(splits: dict[str, pd.DataFrame], config: AugmentConfig | None = None,
                   **kwargs) -> dict[str, pd.DataFrame]:
    """``splits`` with only ``train`` replaced by its augmented copy (dev/test are the same objects)."""
    return {name: augment_train(df, config, **kwargs, split=name) if name == "train" else df
            for name, df in splits.items()}


def class_table(before: pd.DataFrame, after: pd.DataFrame, config: AugmentConfig | None = None,
                names: Sequence[str] = EKMAN_LABELS) -> pd.DataFrame:
    """Rows per class before/after (``config.by``, class ids), the target and the number added."""
    config = config or AugmentConfig()
    b, a = (df[config.by].value_counts().reindex(range(len(names)), fill_value=0) for df in (before, after))
    targets = target_counts(b, config.target)
    table = pd.DataFrame({"before": b.to_numpy(), "after": a.to_numpy()}, index=list(names))
    table["added"] = table["after"] - table["before"]
    table["target"] = [targets.get(i) for i in range(len(names))]
    return table.astype({"target": "Int64"})


def examples(augmented: pd.DataFrame, per_class: int = 1, seed: int = 0) -> pd.DataFrame:
    """A few original -> variant pairs per class."""
    col = "ekman_label" if "ekman_label" in augmented else "ekman"
    new = augmented[augmented["augmented"]]
    picked = (new.sample(frac=1.0, random_state=seed).drop_duplicates("source_row")
              .groupby(col).head(per_class).sort_values(col, kind="stable"))
    originals = augmented.loc[~augmented["augmented"]].set_index("source_row")["text"]
    return pd.DataFrame({"class": picked[col].to_numpy(),
                         "original": originals.loc[picked["source_row"]].to_numpy(),
                         "variant": picked["text"].to_numpy()})


def ablation_table(test_reports: dict[str, dict], classes: Sequence[str],
                   dev_reports: dict[str, dict] | None = None) -> pd.DataFrame:
    """Runs side by side plus ``difference`` (last - first): dev macro-F1, test accuracy, macro-F1, F1 per class."""
    table = {}
    for name, rep in test_reports.items():
        col = {"dev macro-F1": dev_reports[name]["macro_f1"]} if dev_reports else {}
        col |= {"test accuracy": rep["accuracy"], "test macro-F1": rep["macro_f1"]}
        col |= {f"test F1 {c}": rep["per_class"][c]["f1"] for c in classes}
        table[name] = col
    out = pd.DataFrame(table)
    if out.shape[1] > 1:
        out["difference"] = out.iloc[:, -1] - out.iloc[:, 0]
    return out


def augmented_classes(table: pd.DataFrame) -> list[str]:
    """Classes of a :func:`class_table` that were below the target."""
    return [c for c, t in table["target"].items() if pd.notna(t)]

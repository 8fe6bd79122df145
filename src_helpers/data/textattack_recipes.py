"""TextAttack augmenters for ``augment`` (seeded, masked, in worker processes) and the NLTK data folder they read."""

from __future__ import annotations

import hashlib
import importlib.util
import multiprocessing as mp
import os
import random
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from src_helpers.config import REPO_ROOT, RESOURCES
from src_helpers.data.goemotions import hub_reachable

if TYPE_CHECKING:
    from src_helpers.data.augment import AugmentConfig

# name -> (TextAttack class, needs WordNet, (what it downloads on first use, host) or None for offline recipes)
RECIPES: dict[str, tuple[str, bool, tuple[str, str] | None]] = {
    "eda": ("EasyDataAugmenter", True, None),
    "wordnet": ("WordNetAugmenter", True, None),
    "synonym_insertion": ("SynonymInsertionAugmenter", True, None),
    "deletion": ("DeletionAugmenter", False, None),
    "charswap": ("CharSwapAugmenter", False, None),
    "embedding": ("EmbeddingAugmenter", False, ("counter-fitted GloVe embeddings from TextAttack's S3 bucket",
                                                "textattack.s3.amazonaws.com")),
    "backtranslation": ("BackTranslationAugmenter", False, ("MarianMT translation models from the Hugging Face hub",
                                                            "huggingface.co")),
    "clare": ("CLAREAugmenter", False, ("distilroberta-base (Hugging Face hub) and the Universal Sentence Encoder "
                                        "(TensorFlow Hub)", "huggingface.co")),
    "checklist": ("CheckListAugmenter", False, ("flair NER models from the Hugging Face hub", "huggingface.co")),
}
OFFLINE_RECIPES = sorted(k for k, (_, _, download) in RECIPES.items() if download is None)
EDA_PARTS = ("synonym_replacement", "random_deletion", "random_swap", "random_insertion")  # EasyDataAugmenter's
NLTK_DATA_ENV = "NLTK_DATA"
DEFAULT_NLTK_DIR = REPO_ROOT / ".cache" / "nltk_data"  # git-ignored
STOPWORDS_FILE = RESOURCES / "stopwords_english.txt"

POS = ("noun", "verb", "adj", "adv")
# WordNet 3.0 as NLTK reads it (besides ``lexnames``)
WORDNET_FILES = (*(f"{kind}.{pos}" for kind in ("data", "index") for pos in POS), *(f"{pos}.exc" for pos in POS),
                 "cntlist.rev", "index.sense")


class WordNetMissingError(RuntimeError):
    """WordNet is not in the NLTK data folder (or cannot be installed there)."""


def nltk_data_dir() -> Path:
    """The first entry of ``$NLTK_DATA``, else ``.cache/nltk_data`` in the repo."""
    first = os.environ.get(NLTK_DATA_ENV, "").split(os.pathsep)[0]
    return Path(first).expanduser() if first else DEFAULT_NLTK_DIR


def use_nltk_data(folder: str | Path | None = None) -> Path:
    """Point ``$NLTK_DATA`` (child processes) and ``nltk.data.path`` (this process) at ``folder``."""
    folder = Path(folder) if folder else nltk_data_dir()
    entries = [e for e in os.environ.get(NLTK_DATA_ENV, "").split(os.pathsep) if e]
    if str(folder) not in entries:
        os.environ[NLTK_DATA_ENV] = os.pathsep.join([str(folder), *entries])
    if "nltk.data" in sys.modules:  # already imported: its search path was read from the environment then
        path = sys.modules["nltk.data"].path
        if str(folder) not in path:
            path.insert(0, str(folder))
    return folder


def wordnet_ready(folder: str | Path | None = None) -> bool:
    target = Path(folder or nltk_data_dir()) / "corpora" / "wordnet"
    return all((target / f).exists() for f in ("lexnames", *WORDNET_FILES))


def stopwords_ready(folder: str | Path | None = None) -> bool:
    return (Path(folder or nltk_data_dir()) / "corpora" / "stopwords" / "english").exists()


def require_nltk_data(folder: str | Path | None = None, wordnet: bool = True) -> Path:
    """``folder`` (default :func:`nltk_data_dir`) set as NLTK's data, stopwords copied in, WordNet required if asked."""
    folder = Path(folder) if folder else nltk_data_dir()
    if not stopwords_ready(folder):
        stop_dir = folder / "corpora" / "stopwords"
        stop_dir.mkdir(parents=True, exist_ok=True)
        tmp = stop_dir / f".english.{os.getpid()}"
        shutil.copyfile(STOPWORDS_FILE, tmp)
        tmp.replace(stop_dir / "english")
    if wordnet and not wordnet_ready(folder):
        raise WordNetMissingError(f"no WordNet in {folder}: run python -m tools.nltk_setup (--download when "
                                  "online; on Colab, INSTALL_AUGMENT = True in the first cell does it)")
    return use_nltk_data(folder)


use_nltk_data()  # $NLTK_DATA before anything imports textattack (its import needs NLTK's stopwords)

TEXTATTACK_HINT = (
    "Augmentation needs TextAttack, the optional 'augment' extra: pip install -e '.[augment]' (make does; it "
    "needs transformers<5). On Colab set INSTALL_AUGMENT = True in the first cell, which downgrades Colab's "
    "transformers to 4.x. Or turn augmentation off (augment = False in the parameters cell).")


class RecipeUnavailableError(RuntimeError):
    """The recipe needs downloads and this machine is offline."""


def require_textattack() -> None:
    """Raise an ImportError that says how to install TextAttack when it is missing (a cheap check, no import)."""
    if importlib.util.find_spec("textattack") is None:
        raise ImportError(f"TextAttack is not installed. {TEXTATTACK_HINT}")


def recipe_key(name: str) -> str:
    """``"EasyDataAugmenter"`` or ``"eda"`` -> ``"eda"`` (unknown names come back lower-cased)."""
    by_class = {cls.lower(): key for key, (cls, *_) in RECIPES.items()}
    return by_class.get(name.lower(), name.lower())


# GoEmotions masks names and religions as "[NAME]" / "[RELIGION]". TextAttack would edit them ("[key]",
# "[]" after a deletion): they become one placeholder word that no transformation may touch.
MASK = re.compile(r"\[([A-Z]+)\]")
PLACEHOLDER = re.compile(r"MASK([A-Z]+)MASK")


def _protect_placeholders(part) -> None:
    """``part``'s placeholder words stay untouched; WordNet synonyms sorted (a set's order changes per process)."""
    from textattack.constraints import PreTransformationConstraint
    from textattack.transformations import WordInsertionRandomSynonym, WordSwapWordNet

    class KeepMasks(PreTransformationConstraint):
        def _get_modifiable_indices(self, current_text):
            return {i for i, w in enumerate(current_text.words) if not PLACEHOLDER.fullmatch(w)}

    def fixed(f):
        return lambda word, *a, **k: [] if PLACEHOLDER.fullmatch(word) else sorted(f(word, *a, **k))

    for t in getattr(part.transformation, "transformations", [part.transformation]):
        for cls, name in ((WordSwapWordNet, "_get_replacement_words"), (WordInsertionRandomSynonym, "_get_synonyms")):
            if isinstance(t, cls):
                setattr(t, name, fixed(getattr(t, name)))
    part.pre_transformation_constraints.append(KeepMasks())


def build_augmenter(recipe: str = "eda", pct_words_to_swap: float = 0.1, variants_per_call: int = 4):
    """A TextAttack augmenter by name; offline-only recipes prepare the NLTK data folder first."""
    if recipe_key(recipe) not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; known: {sorted(RECIPES)} (offline: {OFFLINE_RECIPES})")
    cls_name, needs_wordnet, fetches = RECIPES[recipe_key(recipe)]
    if fetches and not hub_reachable(fetches[1]):
        raise RecipeUnavailableError(f"recipe {recipe!r} ({cls_name}) downloads {fetches[0]} on first use, and "
                                     f"{fetches[1]} is not reachable (offline). Use one of the offline recipes "
                                     f"{OFFLINE_RECIPES}.")
    require_nltk_data(wordnet=needs_wordnet)  # sets $NLTK_DATA before textattack is imported
    require_textattack()
    try:
        from textattack.augmentation import recipes
    except ImportError as e:
        raise ImportError(f"TextAttack could not be imported ({e}). {TEXTATTACK_HINT}") from e
    import nltk

    download = nltk.download
    nltk.download = lambda *a, **k: True  # WordSwapWordNet fetches 'omw-1.4' (non-English WordNets) every time
    try:
        aug = getattr(recipes, cls_name)(pct_words_to_swap=pct_words_to_swap,
                                         transformations_per_example=variants_per_call)
    finally:
        nltk.download = download
    for a in [aug, *(getattr(aug, n) for n in EDA_PARTS if hasattr(aug, n))]:  # EasyDataAugmenter: its parts
        if hasattr(a, "transformation"):
            _protect_placeholders(a)
    return aug


def call_augmenter(aug, text: str) -> list[str]:
    """One ``augment`` call; EasyDataAugmenter is recombined with a seeded shuffle instead of set order."""
    parts = [getattr(aug, n, None) for n in EDA_PARTS]
    if all(p is not None for p in parts):
        out = sorted({t for p in parts for t in p.augment(text)})
        random.shuffle(out)
        return out[: aug.transformations_per_example]
    return list(aug.augment(text))


def variants_for(aug, text: str, source_id: str, n_calls: int, first_attempt: int, seed: int) -> list[str]:
    """Candidates from ``n_calls`` seeded calls (attempts ``first_attempt...``), in a seeded order."""
    out: list[str] = []
    for attempt in range(first_attempt, first_attempt + n_calls):
        s = int.from_bytes(hashlib.sha256(f"{seed}|{source_id}|{attempt}".encode()).digest()[:4], "little")
        random.seed(s)
        np.random.seed(s)
        got = [PLACEHOLDER.sub(r"[\1]", t) for t in call_augmenter(aug, MASK.sub(r"MASK\1MASK", text))]
        random.Random(s).shuffle(got)
        out += got
    return out


_WORKER: dict = {}


def _init_worker(recipe: str, pct: float, per_call: int, nltk_data: str) -> None:
    os.environ["NLTK_DATA"] = nltk_data
    _WORKER["aug"] = build_augmenter(recipe, pct, per_call)


def _run_chunk(chunk: list[tuple]) -> list[list[str]]:
    return [variants_for(_WORKER["aug"], *job) for job in chunk]


class Generator:
    """Runs ``variants_for`` jobs here (``n_workers=1``) or in spawned processes; augmenter / pool built once."""

    def __init__(self, config: AugmentConfig, n_workers: int = 2, progress: bool = True) -> None:
        self.config, self.n_workers, self.progress = config, n_workers, progress
        self.aug, self.pool = None, None

    def __enter__(self) -> Generator:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()

    def __call__(self, jobs: list[tuple]) -> list[list[str]]:
        c, results = self.config, []
        if not jobs:
            return results
        if self.n_workers <= 1:
            self.aug = self.aug or build_augmenter(c.recipe, c.pct_words_to_swap, c.variants_per_call)
            chunks = ([variants_for(self.aug, *job)] for job in jobs)
        else:
            if self.pool is None:
                nltk_data = require_nltk_data(wordnet=RECIPES[recipe_key(c.recipe)][1])
                init = (c.recipe, c.pct_words_to_swap, c.variants_per_call, str(nltk_data))
                self.pool = mp.get_context("spawn").Pool(self.n_workers, _init_worker, init)
            size = max(1, min(32, len(jobs) // (self.n_workers * 8)))
            chunks = self.pool.imap(_run_chunk, [jobs[i: i + size] for i in range(0, len(jobs), size)])
        with tqdm(total=len(jobs), desc=f"augment ({recipe_key(c.recipe)}, {self.n_workers} proc)",
                  disable=not self.progress) as pbar:
            for out in chunks:
                results += out
                pbar.update(len(out))
        return results

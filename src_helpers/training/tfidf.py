"""TF-IDF (word + char n-grams) + logistic regression: the peer every neural model must beat."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from tqdm import tqdm

from src_helpers.data.labels import EKMAN, LabelSet
from src_helpers.evaluation.results import RunResult, check_target, evaluate, report, targets


@dataclass
class TfidfConfig:
    """``Cs`` (the grid chosen on dev) and the n-gram ranges may be given as lists (papermill and JSON have no
    tuples; a single number is a grid of one): they are stored as tuples."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    min_df: int = 2
    max_features: int | None = 300_000
    Cs: Sequence[float] = (0.5, 1.0, 2.0, 4.0)
    class_weight: str | None = None
    max_iter: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        Cs = (self.Cs,) if isinstance(self.Cs, int | float | str) else self.Cs
        try:
            self.Cs = tuple(float(c) for c in Cs)
        except (TypeError, ValueError) as err:
            raise ValueError(f"TfidfConfig: Cs must be positive numbers, got {self.Cs!r}") from err
        if not self.Cs or min(self.Cs) <= 0:
            raise ValueError(f"TfidfConfig: Cs must be one or more positive numbers, got {self.Cs!r}")
        self.word_ngrams, self.char_ngrams = _ngrams("word_ngrams", self.word_ngrams), \
            _ngrams("char_ngrams", self.char_ngrams)


def _ngrams(name: str, value: Sequence[int]) -> tuple[int, int]:
    """``(low, high)`` n-gram range as a tuple (scikit-learn refuses a list)."""
    pair = tuple(value) if isinstance(value, list | tuple) else ()
    if len(pair) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) for n in pair) \
            or not 1 <= pair[0] <= pair[1]:
        raise ValueError(f"TfidfConfig: {name} must be (low, high) with 1 <= low <= high, got {value!r}")
    return pair


@dataclass
class TfidfFeatures:
    """Word and char TF-IDF vectorizers fitted on the train split."""

    config: TfidfConfig
    word: TfidfVectorizer = field(init=False)
    char: TfidfVectorizer = field(init=False)

    def __post_init__(self) -> None:
        c = self.config
        self.word = TfidfVectorizer(ngram_range=c.word_ngrams, min_df=c.min_df, sublinear_tf=True,
                                    max_features=c.max_features, lowercase=True)
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=c.char_ngrams, min_df=c.min_df,
                                    sublinear_tf=True, max_features=c.max_features, lowercase=True)

    def fit_transform(self, texts: Sequence[str]):
        return hstack([self.word.fit_transform(texts), self.char.fit_transform(texts)]).tocsr()

    def transform(self, texts: Sequence[str]):
        return hstack([self.word.transform(texts), self.char.transform(texts)]).tocsr()


@dataclass(kw_only=True)
class BaselineResult(RunResult):
    """``RunResult`` of the TF-IDF baseline (not written to a run folder here: notebook 02 saves it)."""

    features: TfidfFeatures
    model: object
    C: float
    selection: pd.DataFrame  # dev score for every C tried


def _classifier(target: str, C: float, config: TfidfConfig):
    lr = LogisticRegression(C=C, max_iter=config.max_iter, class_weight=config.class_weight,
                            random_state=config.seed)
    return lr if target == "single" else OneVsRestClassifier(lr, n_jobs=2)


def _full_probs(model, X, n_classes: int) -> np.ndarray:
    """Probabilities with one column per class, also when a class is missing from a tiny train set."""
    probs = model.predict_proba(X)
    if probs.shape[1] == n_classes:
        return probs
    out = np.zeros((probs.shape[0], n_classes))
    out[:, model.classes_] = probs
    return out


def train_tfidf_baseline(train: pd.DataFrame, dev: pd.DataFrame, test: pd.DataFrame, target: str = "single",
                         config: TfidfConfig | None = None, labels: LabelSet = EKMAN) -> BaselineResult:
    """Fit on train, choose C (and the multi-label threshold) by dev macro-F1, report dev and test; the classes
    and target columns are ``labels``'."""
    check_target(target)
    config = config or TfidfConfig()
    n = len(labels.classes)
    y_train, y_dev, y_test = (targets(df, target, labels) for df in (train, dev, test))
    feats = TfidfFeatures(config)
    X_train = feats.fit_transform(train["text"])
    X_dev, X_test = feats.transform(dev["text"]), feats.transform(test["text"])

    rows, best = [], None
    for C in tqdm(config.Cs, desc=f"tf-idf {target}: C"):
        model = _classifier(target, C, config).fit(X_train, y_train)
        dev_probs = _full_probs(model, X_dev, n)
        dev_report = report(y_dev, dev_probs, target, labels=labels)
        rows.append({"C": C, "dev_macro_f1": dev_report["macro_f1"], "threshold": dev_report.get("threshold")})
        if math.isnan(dev_report["macro_f1"]):
            warnings.warn(f"tf-idf {target}: C={C} gives a NaN dev macro-F1; it is never chosen", stacklevel=2)
        elif best is None or dev_report["macro_f1"] > best[1]:
            best = (C, dev_report["macro_f1"], model, dev_probs)
    if best is None:
        raise ValueError(f"tf-idf {target}: every C of {list(config.Cs)} gives a NaN dev macro-F1")
    C, _, model, dev_probs = best
    test_probs = _full_probs(model, X_test, n)
    ev = evaluate(y_dev, dev_probs, y_test, test_probs, target, labels)
    return BaselineResult(config=config, target=target, labels=labels, dev=ev.dev, test=ev.test, threshold=ev.threshold,
                          dev_probs=dev_probs, dev_pred=ev.dev_pred, y_dev=y_dev, test_probs=test_probs,
                          test_pred=ev.test_pred, y_test=y_test, features=feats, model=model, C=C,
                          selection=pd.DataFrame(rows))

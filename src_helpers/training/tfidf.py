"""TF-IDF (word + char n-grams) + logistic regression: the peer every neural model must beat."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from tqdm import tqdm

from src_helpers.data.labels import EKMAN, LabelSet
from src_helpers.evaluation.results import RunResult, check_target, report, targets
from src_helpers.training import scored, write_run
from src_helpers.training.configs import TfidfConfig
from src_helpers.training.resume import data_fingerprint


@dataclass(kw_only=True)
class BaselineResult(RunResult):
    """``RunResult`` of the TF-IDF baseline."""

    features: FeatureUnion
    model: object
    C: float
    selection: pd.DataFrame  # dev score for every C tried


def full_probs(model, X, n_classes: int) -> np.ndarray:
    """Probabilities with one column per class, also when a class is missing from a tiny train set."""
    out = np.zeros((X.shape[0], n_classes))
    out[:, model.classes_] = model.predict_proba(X)
    return out


def tfidf_pipeline(config: TfidfConfig | None = None, target: str = "single", C: float = 1.0) -> Pipeline:
    """The unfitted model: word and char TF-IDF side by side, then logistic regression (one-vs-rest if multi)."""
    config = config or TfidfConfig()
    common = {"min_df": config.min_df, "sublinear_tf": True, "max_features": config.max_features, "lowercase": True}
    feats = FeatureUnion([("word", TfidfVectorizer(ngram_range=config.word_ngrams, **common)),  # side by side
                          ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=config.char_ngrams, **common))])
    lr = LogisticRegression(C=C, max_iter=config.max_iter, class_weight=config.class_weight, random_state=config.seed)
    return Pipeline([("features", feats),
                     ("classifier", lr if check_target(target) == "single" else OneVsRestClassifier(lr, n_jobs=2))])


def train_tfidf_baseline(train: pd.DataFrame, dev: pd.DataFrame, test: pd.DataFrame, target: str = "single",
                         config: TfidfConfig | None = None, labels: LabelSet = EKMAN) -> BaselineResult:
    """Fit on train, choose C (and the multi-label threshold) by dev macro-F1, report dev and test (``labels``)."""
    check_target(target)
    config = config or TfidfConfig()
    n = len(labels.classes)
    y_train, y_dev, y_test = (targets(df, target, labels) for df in (train, dev, test))
    feats = tfidf_pipeline(config, target)["features"]
    X_train = feats.fit_transform(train["text"])
    X_dev, X_test = feats.transform(dev["text"]), feats.transform(test["text"])

    rows, best = [], None
    for C in tqdm(config.Cs, desc=f"tf-idf {target}: C"):
        model = tfidf_pipeline(config, target, C)["classifier"].fit(X_train, y_train)
        dev_probs = full_probs(model, X_dev, n)
        dev_report = report(y_dev, dev_probs, target, labels=labels)
        rows.append({"C": C, "dev_macro_f1": dev_report["macro_f1"], "threshold": dev_report.get("threshold")})
        if math.isnan(dev_report["macro_f1"]):
            warnings.warn(f"tf-idf {target}: C={C} gives a NaN dev macro-F1; it is never chosen", stacklevel=2)
        elif best is None or dev_report["macro_f1"] > best[1]:
            best = (C, dev_report["macro_f1"], model, dev_probs)
    if best is None:
        raise ValueError(f"tf-idf {target}: every C of {list(config.Cs)} gives a NaN dev macro-F1")
    C, _, model, dev_probs = best
    fields = scored(y_dev, dev_probs, y_test, full_probs(model, X_test, n), target, labels)
    return BaselineResult(config=config, **fields, features=feats, model=model, C=C, selection=pd.DataFrame(rows))


class TfidfTrainer:
    """TF-IDF + LR behind ``training.Trainer``; it keeps no model on disk (``predict_proba``: this session's fit)."""

    def __init__(self, config: TfidfConfig | None = None, target: str = "single", labels: LabelSet = EKMAN,
                 data_settings: Mapping | None = None) -> None:
        self.config, self.target, self.labels = config or TfidfConfig(), check_target(target), labels
        self.data_settings = dict(data_settings or {})
        self.result: BaselineResult | None = None

    def fit(self, splits: dict[str, pd.DataFrame], run_dir: str | Path, resume: bool = True) -> BaselineResult:
        """Fit, choose C on dev, write the run folder (``resume`` is ignored: nothing to resume)."""
        r = train_tfidf_baseline(splits["train"], splits["dev"], splits["test"], self.target, self.config, self.labels)
        config = {"model": "tfidf_logreg", "target": self.target, "labels": self.labels.name, "C": r.C,
                  **asdict(self.config), "threshold": r.threshold,
                  "data": data_fingerprint(splits, **self.data_settings)}
        r.run_dir, r.config, self.result = Path(run_dir), config, r
        return write_run(r, config, splits)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if self.result is None:
            raise RuntimeError("TfidfTrainer.predict_proba needs the fitted trainer (TF-IDF runs keep no model)")
        r = self.result
        return full_probs(r.model, r.features.transform(list(texts)), len(self.labels.classes))

"""Error analysis of a single-label run on test: the most confused class pairs and real examples of its mistakes,
joined to their texts by the run's test ids."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from src_helpers.evaluation.results import RunResult, require_single
from src_helpers.experiments.run_folders import load_run

ID_COLUMN = "comment_id"  # the id column of the loaders' splits; run folders store it as ``id``
SINGLE = "error analysis here reads one predicted class per row (single-label)"


def texts_for(result: RunResult, texts: pd.DataFrame) -> pd.Series:
    """The text in ``texts`` of each of the run's test rows (ids: ``extra["test_ids"]``, else its run folder's)."""
    if not isinstance(texts, pd.DataFrame) or not {ID_COLUMN, "text"} <= set(texts.columns):
        columns = list(texts.columns) if isinstance(texts, pd.DataFrame) else type(texts).__name__
        raise ValueError(f"texts must be a DataFrame with columns {ID_COLUMN!r} and 'text' (a test split), got "
                         f"{columns}")
    by_id = texts.assign(**{ID_COLUMN: texts[ID_COLUMN].astype(str)}).set_index(ID_COLUMN)["text"]
    if (dup := by_id.index[by_id.index.duplicated()]).size:
        raise ValueError(f"texts: duplicate {ID_COLUMN} values {list(dup[:5])}")
    ids = result.extra.get("test_ids")
    if ids is None and result.run_dir is not None:
        ids = load_run(result.run_dir).table("test")["id"].tolist()
    if ids is None:
        raise ValueError(f"run {result.name!r} has no test ids (no extra['test_ids'], no run folder): cannot join "
                         "its rows to texts; read it back with run_folders.load_result(run_dir)")
    if len(ids) != len(result.y_test):
        raise ValueError(f"run {result.name!r}: {len(ids)} test ids for {len(result.y_test)} test rows")
    ids = [str(i) for i in ids]
    if missing := [i for i in ids if i not in by_id.index]:
        raise ValueError(f"run {result.name!r}: {len(missing)} of its {len(ids)} test ids have no text in texts "
                         f"(another split or subset?): {missing[:10]}")
    return by_id.loc[ids]


def confused_pairs(result: RunResult, top: int | None = 10) -> pd.DataFrame:
    """The ``top`` most frequent test confusions (all when None) with their ``share`` of the true class's rows."""
    require_single(result, SINGLE)
    classes = result.labels.classes
    cm = confusion_matrix(result.y_test, result.test_pred, labels=range(len(classes)))
    support = cm.sum(1)
    rows = [{"true": classes[t], "predicted": classes[p], "count": int(cm[t, p]), "share": cm[t, p] / support[t]}
            for t in range(len(classes)) for p in range(len(classes)) if t != p and cm[t, p] > 0]
    table = pd.DataFrame(rows, columns=["true", "predicted", "count", "share"])
    table = table.sort_values(["count", "share"], ascending=False, kind="stable").reset_index(drop=True)
    return (table if top is None else table.head(top)).round({"share": 4})


def _examples(result: RunResult, texts: pd.DataFrame, n: int,
              wanted: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> pd.DataFrame:
    """The test rows ``wanted(y, pred)`` with their text, classes and probabilities, the most confident first."""
    require_single(result, SINGLE)
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    text = texts_for(result, texts)
    classes, probs = np.asarray(result.labels.classes), np.asarray(result.test_probs)
    y, pred = np.asarray(result.y_test), np.asarray(result.test_pred)
    rows = np.flatnonzero(wanted(y, pred))
    table = pd.DataFrame({ID_COLUMN: text.index[rows], "text": text.to_numpy()[rows], "true": classes[y[rows]],
                          "predicted": classes[pred[rows]], "confidence": probs[rows, pred[rows]],
                          "true_prob": probs[rows, y[rows]]})
    return table.sort_values("confidence", ascending=False, kind="stable").head(n).reset_index(drop=True)


def _class_id(result: RunResult, name: str, argument: str) -> int:
    classes = list(result.labels.classes)
    if name not in classes:
        raise ValueError(f"{argument} must be a class of run {result.name!r} ({', '.join(classes)}), got {name!r}")
    return classes.index(name)


def pair_examples(result: RunResult, texts: pd.DataFrame, true: str, pred: str, n: int = 3) -> pd.DataFrame:
    """Up to ``n`` test rows of class ``true`` predicted as ``pred``, the most confident first."""
    t, p = _class_id(result, true, "true"), _class_id(result, pred, "pred")
    if t == p:
        raise ValueError(f"true and pred are the same class ({true!r}): not a confusion")
    return _examples(result, texts, n, lambda y, predicted: (y == t) & (predicted == p))


def confident_mistakes(result: RunResult, texts: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` wrong test predictions with the highest predicted probability (columns as ``pair_examples``)."""
    return _examples(result, texts, n, np.not_equal)

"""Google's Ekman grouping of the 28 GoEmotions labels: the primary group and the multi-hot target."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.preprocessing import MultiLabelBinarizer

from src_helpers.config import RESOURCES
from src_helpers.data.textio import DataFormatError, read_json

# The class-index order of every model and report.
EKMAN_LABELS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")


def load_ekman_mapping(path: str | Path | None = None) -> dict[str, list[str]]:
    """Google's ``ekman_mapping.json`` (default: the package's copy): Ekman group -> fine emotion names."""
    path = Path(path) if path else RESOURCES / "ekman_mapping.json"
    mapping = read_json(path)
    if not isinstance(mapping, dict):
        raise DataFormatError(f"{path}: expected a JSON object of Ekman group -> list of emotion names, "
                              f"got a {type(mapping).__name__}")
    for group, members in mapping.items():
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise DataFormatError(f"{path}: {group!r} must map to a list of emotion names, got {members!r}")
    if unknown := set(mapping) - set(EKMAN_LABELS):
        raise DataFormatError(f"{path}: unknown Ekman groups {sorted(unknown)}; expected {EKMAN_LABELS}")
    return mapping


def fine_to_group(label_names: Sequence[str], mapping: dict[str, list[str]] | None = None) -> np.ndarray:
    """Array ``g`` with ``g[fine_id]`` = Ekman group index; every fine label must map to exactly one group."""
    mapping = mapping if mapping is not None else load_ekman_mapping()
    owner: dict[str, int] = {}
    for group, members in mapping.items():
        for name in members:
            if name in owner:
                raise ValueError(f"emotion {name!r} is mapped to two Ekman groups")
            owner[name] = EKMAN_LABELS.index(group)
    owner.setdefault("neutral", EKMAN_LABELS.index("neutral"))
    if missing := [n for n in label_names if n not in owner]:
        raise ValueError(f"emotions without an Ekman group: {missing}")
    return np.array([owner[n] for n in label_names], dtype=np.int64)


def ekman_targets(label_ids: Sequence[int], groups: np.ndarray) -> tuple[int, tuple[int, ...]]:
    """Primary group (the most frequent among the fine labels; ties: the group of the lowest fine id, as the
    reference notebook's ``Counter(...).most_common(1)``) and all groups of one example."""
    if len(label_ids) == 0:
        raise ValueError("an example needs at least one label")
    counts = Counter(int(groups[i]) for i in sorted(label_ids))  # insertion order = lowest id first
    primary = counts.most_common(1)[0][0]
    return primary, tuple(sorted(counts))


def add_ekman_columns(df: pd.DataFrame, label_names: Sequence[str],
                      mapping: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """A copy of ``df`` with ``ekman`` (primary id), ``ekman_label``, ``ekman_groups`` and ``attrs["label_names"]``."""
    groups = fine_to_group(label_names, mapping)
    targets = [ekman_targets(ids, groups) for ids in df["labels"]]
    out = df.copy()
    out["ekman"] = [t[0] for t in targets]
    out["ekman_label"] = [EKMAN_LABELS[t[0]] for t in targets]
    out["ekman_groups"] = [t[1] for t in targets]
    out.attrs["label_names"] = list(label_names)
    return out


def group_probabilities(fine_probs: np.ndarray, fine_names: Sequence[str], target: str,
                        mapping: dict[str, list[str]] | None = None) -> np.ndarray:
    """Ekman-group probabilities from a fine-label (28) multi-label model's sigmoid outputs. ``"multi"``: a group is
    present when any of its emotions is, ``1 - prod(1 - p)`` (noisy-OR, emotions taken as independent).
    ``"single"``: the group of its most probable emotion, ``max(p)`` normalized over the groups (most comments have
    one label, whose group is the primary one; a sum would favour joy's twelve emotions over fear's two)."""
    fine_probs = np.asarray(fine_probs, dtype=np.float64)
    if fine_probs.ndim != 2 or fine_probs.shape[1] != len(fine_names):
        raise ValueError(f"fine probabilities of shape {fine_probs.shape}: expected one column per fine label "
                         f"({len(fine_names)})")
    owner = fine_to_group(fine_names, mapping)
    member = np.eye(len(EKMAN_LABELS))[owner]  # (fine, group) 0/1
    if target == "multi":
        return (1 - np.exp(np.log1p(-fine_probs.clip(0, 1 - 1e-7)) @ member)).astype(np.float32)
    if target != "single":
        raise ValueError(f"target must be 'single' or 'multi', got {target!r}")
    best = np.where(member.T[None] == 1, fine_probs[:, None, :], 0).max(2)  # (rows, groups)
    return (best / best.sum(1, keepdims=True).clip(min=1e-12)).astype(np.float32)


def multi_hot(group_lists: Sequence[Sequence[int]], n_classes: int = len(EKMAN_LABELS)) -> np.ndarray:
    """Multi-hot matrix (n_examples, n_classes) from lists of group ids; an id outside the classes is an error."""
    if bad := sorted({g for groups in group_lists for g in groups if not 0 <= g < n_classes}):
        raise ValueError(f"group ids {bad} outside the {n_classes} classes")
    return MultiLabelBinarizer(classes=range(n_classes)).fit_transform(group_lists).astype(np.float32)

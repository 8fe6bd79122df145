"""Label sets: a model's classes and the columns holding their targets: ``EKMAN`` (single/multi), ``DAIR`` (single)
or ``GOEMOTIONS`` (the 28 fine labels, multi; read as Ekman groups with ``data.ekman.group_probabilities``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.data.goemotions import read_label_names

# the hub's label ids (``dair-ai/emotion``): sadness 0, joy 1, love 2, anger 3, fear 4, surprise 5
DAIR_LABELS: tuple[str, ...] = ("sadness", "joy", "love", "anger", "fear", "surprise")


@dataclass(frozen=True)
class LabelSet:
    """``classes`` in id order; ``single``/``multi``: the columns of class ids / id tuples (None: no such target)."""

    name: str
    classes: tuple[str, ...]
    single: str | None
    multi: str | None = None

    def column(self, target: str) -> str:
        """The column holding ``target``'s labels (``ValueError`` for a target the label set has no labels for)."""
        column = self.multi if target == "multi" else self.single
        if column is None:
            raise ValueError(f"label set {self.name!r} has no {target}-label targets: target {target!r} has no labels")
        return column


EKMAN = LabelSet("ekman", EKMAN_LABELS, "ekman", "ekman_groups")
DAIR = LabelSet("dair", DAIR_LABELS, "dair")
GOEMOTIONS = LabelSet("goemotions", tuple(read_label_names()), None, "labels")
LABEL_SETS: dict[str, LabelSet] = {s.name: s for s in (EKMAN, DAIR, GOEMOTIONS)}


def label_set(labels: str | LabelSet) -> LabelSet:
    """The label set named ``labels`` (a ``LabelSet`` as it is)."""
    if isinstance(labels, LabelSet):
        return labels
    if labels not in LABEL_SETS:
        raise ValueError(f"unknown label set {labels!r}; known: {', '.join(LABEL_SETS)}")
    return LABEL_SETS[labels]


def label_set_of(classes: Sequence[str]) -> LabelSet:
    """The label set whose classes are ``classes``, in class-id order."""
    if found := [s for s in LABEL_SETS.values() if s.classes == tuple(classes)]:
        return found[0]
    raise ValueError(f"no label set has the classes {list(classes)}")

"""Why a fine-tuned transformer said what it said: Integrated Gradients (Sundararajan et al., ICML 2017, through
Captum's ``LayerIntegratedGradients``) on the word-embedding layer, summed per word, and a figure of highlighted
texts. torch and captum are imported inside the functions, so the reporting path can import this module."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import Normalize

from src_helpers.evaluation.figures import in_notebook


@dataclass
class Attribution:
    """One text's attributions: ``scores`` per word (``raw``: summed over its word pieces and the embedding
    dimension; ``scores``: ``raw`` divided by the text's largest absolute value, in [-1, 1]) to class ``target``.
    ``output``: the attributed score (log-probability of a softmax model, logit of a sigmoid one) at the text and at
    the baseline; ``delta``: ``sum(raw) - (output - baseline_output)``, Captum's convergence delta."""

    text: str
    words: list[str]
    scores: np.ndarray
    raw: np.ndarray
    target: int
    label: str
    output: float
    baseline_output: float
    delta: float
    n_steps: int


def _embeddings(model):
    """The model's word-embedding layer (``get_input_embeddings``), or a ``ValueError`` saying it has none."""
    from torch import nn

    try:
        layer = model.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        layer = None
    if not isinstance(layer, nn.Module):
        raise ValueError(f"model ({type(model).__name__}) has no input embedding layer (get_input_embeddings()): "
                         "Integrated Gradients here needs an AutoModelForSequenceClassification with one")
    return layer


def _words(text: str, offsets: Sequence[tuple[int, int]]) -> tuple[list[str], np.ndarray]:
    """The whitespace words of ``text`` and, per token, the index of the word it lies in (-1: a special token)."""
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    starts = np.array([s for s, _ in spans])
    index = []
    for start, end in offsets:
        inside = [i for i in range(start, end) if not text[i].isspace()]
        index.append(int(np.searchsorted(starts, inside[0], side="right")) - 1 if inside else -1)
    return [text[s:e] for s, e in spans], np.array(index)


def token_attributions(model, tokenizer, texts: Sequence[str], target_ids: Sequence[int],
                       multi_label: bool | None = None, n_steps: int = 50, max_steps: int = 800,
                       tolerance: float = 0.01, max_length: int = 128) -> list[Attribution]:
    """Integrated Gradients of each text's score for class ``target_ids[i]``, one value per whitespace word.

    The path runs from a baseline (every token [PAD], the special tokens such as [CLS]/[SEP] kept) to the text in
    the word-embedding space; positions and segments stay as they are. The score is the class log-probability of
    a softmax model, the class logit of a sigmoid (``multi_label``; None: ``model.config.problem_type``) one. The
    steps double from ``n_steps`` until ``|delta| <= tolerance`` or ``max_steps``. Needs a fast tokenizer."""
    import torch
    from captum.attr import LayerIntegratedGradients

    texts, target_ids = list(texts), list(target_ids)
    if len(texts) != len(target_ids):
        raise ValueError(f"texts and target_ids differ in length ({len(texts)} vs {len(target_ids)})")
    n_classes = int(model.config.num_labels)
    if bad := [t for t in target_ids if not (isinstance(t, int | np.integer) and 0 <= t < n_classes)]:
        raise ValueError(f"target_ids must be class ids 0..{n_classes - 1} of the model, got {bad[:5]}")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("tokenizer must be a fast (Rust) tokenizer: words are found from its offsets")
    pad = tokenizer.pad_token_id
    if pad is None:
        raise ValueError("tokenizer has no pad token: the baseline is made of pad tokens")
    if multi_label is None:
        multi_label = model.config.problem_type == "multi_label_classification"

    layer = _embeddings(model)

    def score(input_ids, attention_mask):
        # embeddings in, not ids: a decoder classifier finds its last token from pad ids, which the baseline holds
        logits = model(inputs_embeds=layer(input_ids), attention_mask=attention_mask).logits
        return logits if multi_label else torch.log_softmax(logits, -1)

    lig, training = LayerIntegratedGradients(score, layer), model.training
    model.eval()
    out = []
    try:
        for text, target in zip(texts, target_ids, strict=True):
            enc = tokenizer(text, truncation=True, max_length=max_length, return_offsets_mapping=True,
                            return_special_tokens_mask=True, return_tensors="pt")
            device = next(model.parameters()).device
            ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
            baseline = torch.where(enc["special_tokens_mask"].bool().to(device), ids, torch.full_like(ids, pad))
            steps = n_steps
            while True:
                attr, delta = lig.attribute(ids, baselines=baseline, target=int(target), n_steps=steps,
                                            additional_forward_args=(mask,), return_convergence_delta=True)
                if abs(delta.item()) <= tolerance or steps * 2 > max_steps:
                    break
                steps *= 2
            per_token = attr.sum(-1)[0].detach().cpu().numpy()
            words, index = _words(text, enc["offset_mapping"][0].tolist())
            raw = np.array([per_token[index == w].sum() for w in range(len(words))])
            raw = raw[: index.max() + 1]  # words cut off by max_length are left out
            with torch.no_grad():
                at = [score(x, mask)[0, target].item() for x in (ids, baseline)]
            top = np.abs(raw).max(initial=0.0)
            out.append(Attribution(text, words[: len(raw)], raw / top if top > 0 else raw, raw, int(target),
                                   model.config.id2label.get(int(target), str(target)), at[0], at[1],
                                   float(delta.item()), steps))
    finally:
        model.train(training)
    return out


def choose_examples(texts: Sequence[str], truth: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                    max_words: int = 40) -> pd.DataFrame:
    """Per class, the most confident right and the most confident wrong prediction among texts of that class.

    ``truth``: class ids (single-label) or multi-hot rows (multi-label); the prediction is the most probable class,
    right when it is one of the text's classes. Texts over ``max_words`` words are skipped; ties go to the earlier
    row. Columns: class, outcome, row, text, true, predicted, target (the predicted class id: what to attribute),
    probability (of the predicted class)."""
    texts, probs, truth = list(texts), np.asarray(probs, dtype=float), np.asarray(truth)
    n = len(classes)
    if probs.ndim != 2 or probs.shape != (len(texts), n):
        raise ValueError(f"probs must have one row per text and one column per class ({len(texts)}, {n}), "
                         f"got {probs.shape}")
    hot = np.eye(n, dtype=bool)[truth] if truth.ndim == 1 else truth.astype(bool)
    if hot.shape != probs.shape:
        raise ValueError(f"truth must hold {len(texts)} class ids or multi-hot rows of {n}, got shape {truth.shape}")
    pred, short = probs.argmax(1), np.array([len(t.split()) <= max_words for t in texts])
    right, confidence = hot[np.arange(len(texts)), pred], probs.max(1)
    rows = []
    for c, name in enumerate(classes):
        for outcome, wanted in (("right", pred == c), ("wrong", ~right)):
            candidates = np.flatnonzero(hot[:, c] & wanted & short)
            if candidates.size:
                i = candidates[np.argsort(-confidence[candidates], kind="stable")[0]]
                rows.append({"class": name, "outcome": outcome, "row": int(i), "text": texts[i],
                             "true": " + ".join(classes[j] for j in np.flatnonzero(hot[i])),
                             "predicted": classes[pred[i]], "target": int(pred[i]), "probability": confidence[i]})
    return pd.DataFrame(rows, columns=["class", "outcome", "row", "text", "true", "predicted", "target",
                                       "probability"])


def attribution_figure(examples: pd.DataFrame, attributions: Sequence[Attribution], path: str | Path | None = None,
                       title: str = "Why the model said it", width: float = 13.0,
                       cmap: str = "RdBu_r") -> plt.Figure:
    """Each example's words on a colour scale (red: raises the attributed class's score, blue: lowers it), under a
    line with its true and predicted classes and the probability; ``examples`` as ``choose_examples`` gives them."""
    if len(examples) != len(attributions):
        raise ValueError(f"examples and attributions differ in length ({len(examples)} vs {len(attributions)})")
    colors, norm = plt.get_cmap(cmap), Normalize(-1, 1)
    fig = plt.figure(figsize=(width, 1))
    ax = fig.add_axes((0.01, 0, 0.98, 1))
    ax.set_axis_off()
    renderer, axis_px = fig.canvas.get_renderer(), ax.get_window_extent().width
    y = 0.0
    for ex, att in zip(examples.to_dict("records"), attributions, strict=True):
        ok = ex["outcome"] == "right"
        ax.text(0, y, f"{ex['class']} · {ex['outcome'].upper()}:  true {ex['true']}  ·  predicted "
                f"{ex['predicted']} (p = {ex['probability']:.2f})  ·  colours: evidence for {att.label}",
                fontsize=9, color="darkgreen" if ok else "firebrick", weight="bold", va="top")
        x, y = 0.0, y + 1
        for word, s in zip(att.words, att.scores, strict=True):
            t = ax.text(x, y, word, fontsize=11, va="top", color="white" if abs(s) > 0.6 else "black",
                        bbox={"facecolor": colors(norm(s)), "edgecolor": "none", "pad": 1.5})
            w = (t.get_window_extent(renderer).width + 6) / axis_px
            if x > 0 and x + w > 1:  # wrap: move the word to the next line
                x, y = 0.0, y + 1.1
                t.set_position((x, y))
            x += w
        y += 1.7
    height = 0.24 * y + 1.6  # inches: the rows, a title above, the colour bar and its label below
    fig.set_figheight(height)
    ax.set_position((0.01, 1.1 / height, 0.98, 1 - 1.55 / height))
    ax.set(xlim=(0, 1), ylim=(y - 0.5, -0.2))
    fig.suptitle(f"{title}: integrated gradients of the predicted class's score (a wrong prediction is explained "
                 "for the class it predicted)", y=1 - 0.12 / height, fontsize=11)
    scale_axes = fig.add_axes((0.3, 0.55 / height, 0.4, 0.14 / height))
    fig.colorbar(plt.cm.ScalarMappable(norm, colors), cax=scale_axes, orientation="horizontal").set_label(
        "attribution, scaled per text: red raises the score of the class named above the text, blue lowers it",
        fontsize=9)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        if not in_notebook():
            plt.close(fig)
    return fig

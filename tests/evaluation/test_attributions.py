"""Integrated Gradients on tiny transformers: one score per word, completeness, the figure, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from src_helpers.config import REPO_ROOT
from src_helpers.evaluation.attributions import Attribution, attribution_figure, choose_examples, token_attributions
from tests.evaluation.test_no_torch import PROBE
from tests.tiny_models import make_tiny_model

TEXTS = ["I can't believe it, this is wonderful!!", "Why would anyone do that to a dog?"]
CLASSES = ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"]


@pytest.fixture(scope="module", params=["distilbert", "albert", "llama"])
def tiny(request, tmp_path_factory):
    """A tiny random classifier whose head is scaled up, so scores differ clearly between text and baseline."""
    folder = make_tiny_model(request.param, tmp_path_factory.mktemp(request.param))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    if tokenizer.pad_token is None:  # Llama: pad with EOS, as the fine-tuning code does
        tokenizer.pad_token = tokenizer.eos_token
        model.config.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():  # random weights large enough for outputs that move
            p.normal_(0, 0.3) if p.dim() > 1 else None
    return model, tokenizer


def scores_at(model, tokenizer, text: str, target: int, multi: bool) -> tuple[float, float]:
    """The attributed score at the text and at the all-pad baseline (special tokens kept), computed here."""
    enc = tokenizer(text, return_special_tokens_mask=True, return_tensors="pt")
    ids = enc["input_ids"]
    base = torch.where(enc["special_tokens_mask"].bool(), ids, torch.full_like(ids, tokenizer.pad_token_id))
    embed, mask = model.get_input_embeddings(), enc["attention_mask"]
    with torch.no_grad():  # embeddings in: a decoder would look for its last token among the baseline's pad ids
        out = [model(inputs_embeds=embed(x), attention_mask=mask).logits[0] for x in (ids, base)]
        assert torch.allclose(out[0], model(input_ids=ids, attention_mask=mask).logits[0], atol=1e-5)
    return tuple(float(o[target] if multi else torch.log_softmax(o, -1)[target]) for o in out)


@pytest.mark.parametrize("multi", [False, True])
def test_one_score_per_word_and_completeness(tiny, multi: bool) -> None:
    model, tokenizer = tiny
    # per text, the class whose score moves most between baseline and text (a random tiny model moves some little)
    targets = [max(range(len(CLASSES)), key=lambda c, t=t: abs(np.subtract(*scores_at(model, tokenizer, t, c, multi))))
               for t in TEXTS]
    out = token_attributions(model, tokenizer, TEXTS, targets, multi_label=multi)
    for text, target, att in zip(TEXTS, targets, out, strict=True):
        assert att.words == text.split() and att.scores.shape == att.raw.shape == (len(att.words),)
        assert np.abs(att.scores).max() == pytest.approx(1.0) and att.target == target
        at_text, at_base = scores_at(model, tokenizer, text, target, multi)
        assert (att.output, att.baseline_output) == pytest.approx((at_text, at_base), abs=1e-4)
        assert abs(at_text - at_base) > 0.05, "the test needs a score that moves"
        # completeness: the word attributions add up to the change of the score, within the convergence delta
        assert att.raw.sum() == pytest.approx(at_text - at_base, abs=abs(att.delta) + 1e-3)
        assert abs(att.delta) <= 0.01 or att.n_steps * 2 > 800


def test_model_mode_is_restored_and_long_texts_are_cut(tiny) -> None:
    model, tokenizer = tiny
    model.train()
    long = " ".join(["wonderful"] * 100)
    att = token_attributions(model, tokenizer, [long], [1], max_length=12)[0]
    assert model.training
    model.eval()
    assert 0 < len(att.words) < 12 and att.words == long.split()[: len(att.words)]


def test_clear_errors(tiny) -> None:
    model, tokenizer = tiny
    with pytest.raises(ValueError, match="target_ids must be class ids 0..6"):
        token_attributions(model, tokenizer, TEXTS, [0, 7])
    with pytest.raises(ValueError, match="texts and target_ids differ"):
        token_attributions(model, tokenizer, TEXTS, [0])
    plain = nn.Linear(4, 7)
    plain.config = SimpleNamespace(num_labels=7, problem_type=None)
    with pytest.raises(ValueError, match="no input embedding layer"):
        token_attributions(plain, tokenizer, TEXTS[:1], [0])


def test_choose_examples_most_confident_right_and_wrong_per_class() -> None:
    texts = ["a b", "c d", "e f", "g h " * 30, "i j"]
    probs = np.full((5, 7), 0.01)
    probs[[0, 1, 2, 3, 4], [0, 0, 3, 0, 0]] = [0.6, 0.9, 0.8, 0.99, 0.7]
    single = choose_examples(texts, np.array([0, 0, 0, 0, 4]), probs, CLASSES, max_words=10)
    assert single[["class", "outcome", "row", "target"]].values.tolist() == [
        ["anger", "right", 1, 0], ["anger", "wrong", 2, 3], ["sadness", "wrong", 4, 0]]  # row 3: too long
    assert single["probability"].tolist() == [0.9, 0.8, 0.7] and single.loc[2, "true"] == "sadness"
    hot = np.zeros((5, 7), dtype=int)
    hot[[0, 1, 2, 4, 4], [0, 6, 3, 4, 0]] = 1
    multi = choose_examples(texts, hot, probs, CLASSES, max_words=10)
    assert multi[["class", "outcome", "row"]].values.tolist() == [["anger", "right", 4], ["joy", "right", 2],
                                                                  ["neutral", "wrong", 1]]
    assert multi.loc[0, "true"] == "anger + sadness"
    with pytest.raises(ValueError, match="probs must have one row per text"):
        choose_examples(texts[:2], hot, probs, CLASSES)


def test_figure_is_written(tmp_path) -> None:
    examples = choose_examples(TEXTS, np.array([3, 0]), np.eye(7)[[3, 4]] * 0.9, CLASSES)
    atts = []
    for text, c in zip(examples["text"], examples["target"], strict=True):
        n = len(text.split())
        atts.append(Attribution(text, text.split(), np.linspace(-1, 1, n), np.linspace(-2, 2, n), c, CLASSES[c],
                                1.0, -1.0, 0.0, 50))
    path = tmp_path / "figs" / "attributions.png"
    fig = attribution_figure(examples, atts, path)
    assert path.stat().st_size > 10_000 and fig.get_figheight() > 2
    shown = [t.get_text() for t in fig.axes[0].texts]
    headers = [t for t in shown if "predicted" in t]
    assert [t for t in shown if t not in headers] == TEXTS[1].split() + TEXTS[0].split()  # anger, then joy
    assert "anger · WRONG" in headers[0] and "predicted sadness (p = 0.90)" in headers[0]
    assert "evidence for sadness" in headers[0] and "joy · RIGHT" in headers[1]
    with pytest.raises(ValueError, match="examples and attributions differ"):
        attribution_figure(examples, atts[:1])


def test_module_imports_without_torch() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, "attributions"], capture_output=True, text=True, check=True,
                         cwd=REPO_ROOT)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"attributions": None}

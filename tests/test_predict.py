"""predict() and its CLI on a tiny fine-tuned model: edge-case texts, JSON, --file, default model folder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from src_helpers import predict as pr
from src_helpers.config import paths_for
from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.data.goemotions import load_goemotions, subsample
from src_helpers.experiments.run_folders import write_json
from src_helpers.training import finetune as ft
from src_helpers.training.transformer_model import WEIGHT_FILES, load_model_dir
from tests.tiny_models import make_tiny_model
from tests.training.helpers import finetune


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("predict")
    s = load_goemotions(source="sample")
    src = make_tiny_model("albert", tmp / "hub")
    cfg = ft.FTConfig(model_name=str(src), epochs=1, batch_size=8, max_length=32, learning_rate=1e-3, num_threads=1)
    res = finetune(subsample(s["train"], 32), subsample(s["dev"], 14), subsample(s["test"], 14), cfg, tmp / "run")
    return res.model_dir


@pytest.mark.parametrize("text", ["😀😀🎉", "x" * 20_000, "word " * 4_000, "¿Qué tal? 你好", "!!!"])
def test_odd_texts_get_a_valid_answer(model_dir, text):
    out = pr.predict([text], model_dir, top_k=None)[0]
    assert [d["label"] for d in out] != [] and {d["label"] for d in out} == set(EKMAN_LABELS)
    scores = [d["score"] for d in out]
    assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-3


def test_batch_order_is_kept(model_dir):
    texts = ["short", "a much longer text about being angry at the bus " * 3, "so happy today"]
    probs, _ = pr.predict_proba(texts, model_dir, batch_size=2)
    alone = np.vstack([pr.predict_proba([t], model_dir)[0] for t in texts])
    np.testing.assert_allclose(probs, alone, atol=1e-5)


@pytest.mark.parametrize("bad", ["", "   \n", None])
def test_empty_or_non_text_is_a_clear_error(model_dir, bad):
    with pytest.raises((ValueError, TypeError), match=r"texts\[1\]"):
        pr.predict(["fine", bad], model_dir)


def test_top_k_flag_is_checked_before_a_model_loads(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        pr.main(["--top-k", "0", "hello"])
    assert stop.value.code == 2 and "--top-k: must be an integer >= 1, got '0'" in capsys.readouterr().err


def test_top_k_is_checked(model_dir):
    assert len(pr.predict("hello", model_dir, top_k=1)[0]) == 1
    with pytest.raises(ValueError, match="top_k"):
        pr.predict("hello", model_dir, top_k=8)


def test_quantized_model_agrees_roughly(model_dir):
    texts = ["I am so angry", "what a surprise", "thanks a lot"]
    p32, _ = pr.predict_proba(texts, model_dir)
    p8, _ = pr.predict_proba(texts, model_dir, quantized=True)
    assert np.abs(p32 - p8).max() < 0.05


def test_cli_text_json_and_file(model_dir, tmp_path, capsys):
    assert pr.main(["I've never had such a bad day", "--model", str(model_dir), "--top-k", "2"]) == 0
    out = capsys.readouterr().out
    assert "bad day" in out and sum(out.count(label) for label in EKMAN_LABELS) == 2

    f = tmp_path / "texts.txt"
    f.write_text("first text\n\n😀\nthird one\n", encoding="utf-8")
    assert pr.main(["--file", str(f), "--json", "--model", str(model_dir)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["text"] for x in lines] == ["first text", "😀", "third one"] and len(lines[0]["labels"]) == 3


def test_cli_errors_are_messages_not_tracebacks(model_dir, tmp_path, capsys):
    assert pr.main(["", "--model", str(model_dir)]) == 2
    assert "empty" in capsys.readouterr().err
    assert pr.main(["--file", str(tmp_path / "missing.txt"), "--model", str(model_dir)]) == 2
    assert "missing.txt" in capsys.readouterr().err
    assert pr.main(["hi", "--model", str(tmp_path)]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_default_model_is_the_best_run_by_dev_score(model_dir, capsys):
    runs = paths_for("full").runs  # the tmp output root (conftest)
    with pytest.raises(FileNotFoundError, match="no fine-tuned model"):
        pr.default_model_dir()
    assert pr.main(["hello"]) == 2 and "no fine-tuned model" in capsys.readouterr().err
    for name, score in (("worse", 0.2), ("better", 0.6)):
        shutil.copytree(model_dir, runs / name / "model")
        write_json(runs / name / "metrics.json", {"dev": {"macro_f1": score}, "test": {"macro_f1": 0.99 - score}})
    (runs / "no_weights" / "model").mkdir(parents=True)
    write_json(runs / "no_weights" / "metrics.json", {"dev": {"macro_f1": 0.9}})
    assert pr.default_model_dir() == runs / "better" / "model"
    shutil.copytree(model_dir, runs / "multi" / "model")
    write_json(runs / "multi" / "metrics.json", {"dev": {"macro_f1": 0.8}})
    write_json(runs / "multi" / "config.json", {"target": "multi"})
    assert pr.default_model_dir() == runs / "better" / "model"  # single-label runs first
    assert pr.main(["hello", "--json"]) == 0


def test_read_lines_strips_bom_and_names_bad_bytes(tmp_path, capsys):
    f = tmp_path / "texts.txt"
    f.write_bytes(b"\xef\xbb\xbfhello\nworld\n")
    assert pr.read_lines(f) == ["hello", "world"]
    f.write_bytes(b"hello\nw\xf6rld\n")
    with pytest.raises(ValueError, match=r"texts\.txt:2: not valid UTF-8"):
        pr.read_lines(f)
    assert pr.main(["--file", str(f)]) == 2 and "texts.txt:2" in capsys.readouterr().err


def test_missing_model_message_leads_somewhere_true(model_dir):
    with pytest.raises(FileNotFoundError) as empty:
        pr.default_model_dir()
    assert "training.finetune --profile full" in str(empty.value) and 'profile = "full"' in str(empty.value)
    quick = paths_for("quick").runs / "smoke_run" / "model"  # where a quick run's model lands
    shutil.copytree(model_dir, quick)
    write_json(quick.parent / "metrics.json", {"dev": {"macro_f1": 0.3}})
    with pytest.raises(FileNotFoundError, match="no fine-tuned model") as found:
        pr.default_model_dir()
    message = str(found.value)
    assert f"--model {quick}" in message and "smoke" in message and "training.finetune --profile full" in message


def _remove_tokenizer(folder):
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        (folder / name).unlink(missing_ok=True)


def _truncate(path):
    path.write_bytes(path.read_bytes()[:1000])


@pytest.mark.parametrize(("breakage", "message"), [
    (_remove_tokenizer, "no tokenizer files"),
    (lambda d: (d / "tokenizer.json").write_text("{broken"), "tokenizer does not load"),
    (lambda d: (d / "config.json").write_text('{"model_type": "albert",'), r"config\.json:1:\d+: invalid JSON"),
    (lambda d: (d / "config.json").write_text("[1]"), r"config\.json: expected a JSON object"),
    (lambda d: _truncate(d / "model.safetensors"), "weights"),
])
def test_broken_model_folder_is_a_clear_error(model_dir, tmp_path, capsys, breakage, message):
    broken = tmp_path / "broken_model"
    shutil.copytree(model_dir, broken)
    breakage(broken)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_model_dir(str(broken))
    assert pr.main(["hello", "--model", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(broken) in err


def test_inference_does_not_import_training_code():
    """``predict`` (inference) loads without the trainers: a fresh interpreter shows what it imports."""
    import subprocess
    import sys

    from src_helpers.config import REPO_ROOT

    code = ("import sys, src_helpers.predict; "
            "print(' '.join(m for m in ('src_helpers.training.finetune', 'src_helpers.training.loop') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing src_helpers.predict imports training modules: {out.stdout.strip()}"


def test_a_nan_dev_score_is_never_the_default_model(tmp_path):
    for name, score in (("a_broken", float("nan")), ("better", 0.6)):
        model = tmp_path / name / "model"
        model.mkdir(parents=True)
        (model / "config.json").write_text("{}")
        (model / WEIGHT_FILES[0]).write_bytes(b"")
        write_json(tmp_path / name / "metrics.json", {"dev": {"macro_f1": score}})
    with pytest.raises(ValueError, match=r"dev macro-F1 is NaN for \['a_broken'\]"):
        pr.best_model_dir(tmp_path)
    write_json(tmp_path / "a_broken" / "metrics.json", {"dev": {"macro_f1": 0.5}})
    assert pr.best_model_dir(tmp_path) == tmp_path / "better" / "model"

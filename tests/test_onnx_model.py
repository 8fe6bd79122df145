"""ONNX export + int8 quantization of a model folder, and predict's choice between ONNX Runtime and PyTorch."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from src_helpers import onnx_model as om
from src_helpers import predict as pr
from tests.tiny_models import make_tiny_model

TEXTS = ["I am so angry at the bus driver", "what a lovely surprise", "this is scary", "ok", "thanks a lot!!",
         "I can't believe it happened again, it is disgusting", "so sad to hear that", "meh"]


def _exported(tmp_path_factory, problem_type: str):
    folder = make_tiny_model("albert", tmp_path_factory.mktemp(problem_type) / "model")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "problem_type": problem_type}))
    om.export(folder)
    return folder


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    return _exported(tmp_path_factory, "single_label_classification")


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    return _exported(tmp_path_factory, "multi_label_classification")


def _copy(folder, tmp_path, onnx: bool = True):
    out = tmp_path / "model"
    shutil.copytree(folder, out, ignore=None if onnx else shutil.ignore_patterns(om.ONNX_DIR))
    return out


def test_export_writes_both_files_and_a_manifest_of_the_weights(single):
    onnx_dir = single / om.ONNX_DIR
    assert (onnx_dir / om.FP32).stat().st_size > (onnx_dir / om.INT8).stat().st_size > 0
    manifest = json.loads((onnx_dir / om.MANIFEST).read_text())
    assert manifest["weights"] == "model.safetensors" and manifest["sha256"] == om.sha256(single / "model.safetensors")
    assert set(manifest["versions"]) == set(om.PACKAGES) and manifest["inputs"][0] == "input_ids"
    assert om.stale_reason(single) is None and om.main(["--model", str(single), "--check"]) == 0


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_onnx_fp32_equals_pytorch(kind, request):
    folder = request.getfixturevalue(kind)
    torch_probs, names = pr.predict_proba(TEXTS, folder, batch_size=3, runtime="torch")
    onnx_probs = om.OnnxClassifier(folder, int8=False).predict_proba(TEXTS, batch_size=3)
    np.testing.assert_allclose(onnx_probs, torch_probs, atol=1e-5)
    sums = onnx_probs.sum(1)
    assert np.allclose(sums, 1) if kind == "single" else not np.allclose(sums, 1)  # softmax / sigmoid
    assert om.load(folder).labels == names


def test_int8_is_close_to_pytorch(single):
    """Dynamic int8 weights move a probability by at most 0.02 and keep the top label of 7 of 8 texts (random tiny
    model: its classes are close, so a small shift can swap the top two)."""
    torch_probs, _ = pr.predict_proba(TEXTS, single, runtime="torch")
    int8_probs, _ = pr.predict_proba(TEXTS, single, runtime="onnx")
    assert np.abs(int8_probs - torch_probs).max() < 0.02
    assert (int8_probs.argmax(1) == torch_probs.argmax(1)).sum() >= 7


def test_default_is_onnx_when_the_export_matches(single):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pr.pick_runtime(single) == "onnx"
        probs, _ = pr.predict_proba(TEXTS, single)
    np.testing.assert_array_equal(probs, om.load(single).predict_proba(TEXTS))
    assert pr.pick_runtime(single, quantized=True) == "torch" and pr.pick_runtime(single, "torch") == "torch"


def test_default_is_pytorch_without_an_export(single, tmp_path):
    folder = _copy(single, tmp_path, onnx=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pr.pick_runtime(folder) == "torch"
    with pytest.raises(FileNotFoundError, match=r"no ONNX export .*python -m src_helpers\.onnx_model --model"):
        pr.predict_proba(TEXTS, folder, runtime="onnx")
    assert pr.main(["hello", "--model", str(folder), "--runtime", "onnx"]) == 2


def test_changed_weights_warn_and_fall_back_to_pytorch(single, tmp_path):
    folder = _copy(single, tmp_path)
    weights = load_file(folder / "model.safetensors")
    save_file({k: v + 0.01 if v.is_floating_point() else v for k, v in weights.items()}, folder / "model.safetensors",
              metadata={"format": "pt"})
    with pytest.warns(UserWarning, match=r"model\.int8\.onnx was exported from other weights.*re-export"):
        probs, _ = pr.predict_proba(TEXTS, folder)
    np.testing.assert_allclose(probs, pr.predict_proba(TEXTS, folder, runtime="torch")[0], atol=1e-6)
    with pytest.raises(FileNotFoundError, match="exported from other weights"):
        pr.predict_proba(TEXTS, folder, runtime="onnx")
    assert om.main(["--model", str(folder), "--check"]) == 1
    assert om.main(["--model", str(folder)]) == 0 and pr.pick_runtime(folder) == "onnx"  # re-exported


def test_an_export_quantized_with_other_settings_is_stale(single, tmp_path):
    folder = _copy(single, tmp_path)
    manifest_file = folder / om.ONNX_DIR / om.MANIFEST
    manifest = json.loads(manifest_file.read_text())
    assert manifest["quantization"]["op_types"] == ["MatMul"]  # the embedding lookup stays fp32
    manifest_file.write_text(json.dumps({**manifest, "quantization": {**manifest["quantization"], "op_types": None}}))
    assert "was quantized with other settings: re-export" in om.stale_reason(folder)


def test_bad_runtime_arguments_are_clear_errors(single):
    with pytest.raises(ValueError, match="runtime must be one of"):
        pr.predict_proba(TEXTS, single, runtime="tensorrt")
    with pytest.raises(ValueError, match="quantized=True is PyTorch's"):
        pr.predict_proba(TEXTS, single, quantized=True, runtime="onnx")


def test_sessions_use_the_threads_asked_for(single):
    assert om.load(single, threads=1).session.get_session_options().intra_op_num_threads == 1
    before = torch.get_num_threads()
    try:
        pr.predict_proba(TEXTS[:2], single, runtime="torch", threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)

"""The web demo: its input checks, its CSV and its choice of model without a browser; then the page itself in headless
Chromium driven by Selenium (slow; skips, saying why, without gradio, selenium, chromium or chromedriver)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from src_helpers import demo
from src_helpers import predict as pr
from src_helpers.config import REPO_ROOT, paths_for
from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.experiments.run_folders import write_json
from tools import demo_screenshot as shot

LABELS = list(EKMAN_LABELS)
TEXTS = ["I am so angry at the bus driver", "what a lovely surprise, thank you", "this is scary"]


@pytest.fixture(scope="module", autouse=True)
def _gradio_cache(tmp_path_factory):
    """Gradio's cache folder (uploads, and what importing it creates) in a tmp folder of this module's tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
        yield


# ----------------------------------------------------------------------------- input checks
@pytest.mark.parametrize("text", ["", "   \n\t", None])
def test_an_empty_text_is_refused(text):
    with pytest.raises(ValueError, match="the text is empty"):
        demo.check_text(text)


def test_a_text_over_the_limit_is_refused_and_one_at_it_taken():
    assert demo.check_text("a" * demo.MAX_CHARS) == "a" * demo.MAX_CHARS
    with pytest.raises(ValueError, match=f"{demo.MAX_CHARS + 1:,} characters"):
        demo.check_text("a" * (demo.MAX_CHARS + 1))


def test_an_upload_keeps_every_non_blank_line(tmp_path):
    f = tmp_path / "texts.txt"
    f.write_bytes("\ufefffirst, with a comma\r\n\n  \nsecond \"quoted\"\n😀\n".encode())
    assert demo.read_upload(f) == ["first, with a comma", 'second "quoted"', "😀"]


@pytest.mark.parametrize(("content", "message"), [
    (b"", "texts.txt is empty"),
    (b"\n  \n\r\n", "texts.txt is empty"),
    (b"fine\nsecond\x00line\n", r"texts\.txt:2: a NUL byte: this looks like a binary file"),
    ("hello\nwörld\n".encode("latin-1"), r"texts\.txt:2: not valid UTF-8 \(byte 0xf6 at column 2\)"),
    ("a\n".encode("utf-16"), "texts.txt:1: a NUL byte"),
    (b"ok\n" + b"x" * (demo.MAX_CHARS + 1) + b"\n", rf"texts\.txt:2: {demo.MAX_CHARS + 1:,} characters"),
    (b"a\n" * (demo.MAX_LINES + 1), f"{demo.MAX_LINES + 1:,} non-blank lines"),
    (b"a" * (demo.MAX_FILE_BYTES + 1), f"{demo.MAX_FILE_BYTES + 1:,} bytes"),
])
def test_a_bad_upload_is_a_message_naming_the_file_and_line(tmp_path, content, message):
    f = tmp_path / "texts.txt"
    f.write_bytes(content)
    with pytest.raises(ValueError, match=message) as refused:
        demo.read_upload(f)
    assert str(tmp_path) not in str(refused.value), "the message names the file, not the server's folder"


# ----------------------------------------------------------------------------- verdict and CSV
PROBS = np.array([[0.1, 0.05, 0.02, 0.7, 0.03, 0.4, 0.2],
                  [0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2]])


def test_groups_are_the_classes_at_or_above_the_threshold_most_probable_first():
    assert demo.groups(PROBS[0], LABELS, 0.4) == ["joy", "surprise"]
    assert demo.groups(PROBS[1], LABELS, 0.4) == []
    assert demo.groups(PROBS[1], LABELS, None) == ["anger"]  # single-label: the one predicted class


def test_the_verdict_names_the_predicted_class_and_the_groups():
    multi = demo.verdict(PROBS[0], LABELS, 0.4)
    assert "**predicted:** joy" in multi and "threshold 0.40:** joy, surprise" in multi
    assert "none" in demo.verdict(PROBS[1], LABELS, 0.4)
    single = demo.verdict(PROBS[1], LABELS, None)
    assert "**predicted:** anger" in single and "single-label model: one class" in single


@pytest.mark.parametrize("threshold", [0.15, None])
def test_the_csv_has_a_row_per_text_with_every_probability(threshold):
    texts = ['a "quoted", comma text', "😀"]
    rows = list(csv.DictReader(io.StringIO(demo.predictions_csv(texts, PROBS, LABELS, threshold))))
    assert list(rows[0]) == ["text", "predicted", *LABELS, "groups"]
    assert [r["text"] for r in rows] == texts and [r["predicted"] for r in rows] == ["joy", "anger"]
    np.testing.assert_allclose([[float(r[c]) for c in LABELS] for r in rows], PROBS, atol=1e-6)
    expected = ["joy;surprise;neutral", "anger;neutral"] if threshold else ["joy", "anger"]
    assert [r["groups"] for r in rows] == expected


def test_a_text_that_starts_like_a_formula_is_written_as_text():
    texts = ["=HYPERLINK(\"http://x\",\"click\")", "-_- ok"]
    rows = list(csv.DictReader(io.StringIO(demo.predictions_csv(texts, PROBS, LABELS, 0.5))))
    assert [r["text"] for r in rows] == ["'" + t for t in texts], "a spreadsheet shows it, never runs it"
    assert demo.spreadsheet_safe("I'm fine =)") == "I'm fine =)", "only a leading formula sign counts"


def test_old_answer_folders_are_pruned(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    for folder in (old, new):
        folder.mkdir()
        (folder / "a_predictions.csv").write_text("text\n")
    os.utime(old, (0, 0))
    demo.prune(tmp_path, max_age=3600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]


def test_the_csv_refuses_texts_and_probabilities_that_differ_in_number():
    with pytest.raises(ValueError, match="3 texts but 2 rows"):
        demo.predictions_csv(["a", "b", "c"], PROBS, LABELS, 0.5)


# ----------------------------------------------------------------------------- a tiny model as a run folder
def make_run(runs: Path, name: str, source: Path, target: str, dev_macro_f1: float) -> Path:
    """``runs/name``: a run folder (config.json, metrics.json) whose model is a copy of ``source``, saved as the
    fine-tuning saves it (Ekman class names; multi-label: sigmoid outputs and the dev-chosen threshold)."""
    model = runs / name / "model"
    shutil.copytree(source, model)
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    config.update(id2label=dict(enumerate(LABELS)), label2id={c: i for i, c in enumerate(LABELS)}, ekman_target=target)
    if target == "multi":
        config.update(problem_type="multi_label_classification", ekman_threshold=0.35)
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    write_json(runs / name / "config.json", {"target": target, "labels": "ekman"})
    write_json(runs / name / "metrics.json", {"dev": {"macro_f1": dev_macro_f1}, "test": {"macro_f1": 0.1}})
    return model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from tests.tiny_models import make_tiny_model

    return make_tiny_model("albert", tmp_path_factory.mktemp("demo") / "hub")


@pytest.fixture(scope="module")
def multi_model(tiny, tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs"), "tiny_multi", tiny, "multi", 0.42)


def test_the_demo_prefers_a_multi_label_model_then_the_quick_ones_then_says_how_to_train(tiny):
    with pytest.raises(FileNotFoundError) as none:
        demo.find_model_dir()
    assert all(s in str(none.value) for s in ("notebooks/05_transformers.ipynb", "training.finetune --profile full",
                                              "training.finetune --profile quick --target multi"))
    quick = make_run(paths_for("quick").runs, "smoke", tiny, "single", 0.2)
    assert demo.find_model_dir() == quick and demo.is_smoke(quick)
    full = paths_for("full").runs
    make_run(full, "single_better", tiny, "single", 0.6)
    multi_worse, multi_best = (make_run(full, n, tiny, "multi", s) for n, s in (("m_worse", 0.3), ("m_best", 0.4)))
    assert demo.find_model_dir() == multi_best and not demo.is_smoke(multi_best)
    assert pr.best_model_dir(full) == full / "single_better" / "model"  # predict keeps single-label first
    assert pr.best_model_dir(full, prefer="multi") == multi_best != multi_worse
    with pytest.raises(ValueError, match="prefer must be one of"):
        pr.best_model_dir(full, prefer="both")


def test_the_served_model_says_what_it_is_and_scores_as_predict_does(multi_model, tmp_path):
    model = demo.load_demo_model(multi_model, runtime="torch")
    assert model.multi and model.threshold == 0.35 and not model.smoke and model.labels == LABELS
    assert model.describe() == "Model `tiny_multi` (multi-label, threshold 0.35, dev macro-F1 0.4200) on PyTorch."
    expected, names = pr.predict_proba(TEXTS, multi_model, runtime="torch")
    assert names == LABELS and not np.allclose(expected.sum(1), 1)  # sigmoid: the classes apart
    shown, said = demo.classify_text(model, TEXTS[1])
    np.testing.assert_allclose([shown[c] for c in LABELS], expected[1], atol=1e-5)
    assert f"**predicted:** {LABELS[int(np.argmax(expected[1]))]}" in said
    with pytest.raises(ValueError, match="empty"):
        demo.classify_text(model, "  ")

    f = tmp_path / "in.txt"
    f.write_text("\n".join([TEXTS[0], "", *TEXTS[1:]]) + "\n", encoding="utf-8")
    out, message = demo.classify_file(model, f, tmp_path)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert out.name == "in_predictions.csv" and message.startswith("3 lines classified")
    assert [r["text"] for r in rows] == TEXTS
    assert [r["predicted"] for r in rows] == [LABELS[i] for i in expected.argmax(1)]
    np.testing.assert_allclose([[float(r[c]) for c in LABELS] for r in rows], expected, atol=1e-5)


def test_an_exported_model_is_served_on_onnx_runtime_int8(multi_model, tmp_path):
    from src_helpers import onnx_model as om

    model_dir = tmp_path / "runs" / "exported" / "model"
    shutil.copytree(multi_model.parent, model_dir.parent)
    om.export(model_dir)
    model = demo.load_demo_model(model_dir)  # runtime auto: the matching int8 export
    assert model.loaded.runtime == "onnx" and model.describe().endswith("on ONNX Runtime int8.")
    expected, _ = pr.predict_proba(TEXTS, model_dir, runtime="onnx")
    np.testing.assert_allclose(model.predict_proba(TEXTS), expected, atol=1e-6)
    assert demo.load_demo_model(model_dir, runtime="torch").describe().endswith("on PyTorch.")


def test_a_single_label_model_is_served_as_one(tiny, tmp_path):
    model = demo.load_demo_model(make_run(tmp_path / "runs", "one", tiny, "single", 0.5), runtime="torch")
    assert not model.multi and model.threshold is None and "(single-label, dev macro-F1 0.5000)" in model.describe()
    shown, said = demo.classify_text(model, "hello there")
    assert abs(sum(shown.values()) - 1) < 1e-5 and "single-label model" in said


def test_without_a_model_the_command_exits_2_and_says_how_to_train_one(tmp_path):
    env = {**os.environ, "SRC_HELPERS_OUTPUT_ROOT": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-m", "src_helpers.demo"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 2, done.stderr
    said = done.stderr
    assert "no fine-tuned model" in said and "05_transformers" in said and "--profile quick --target multi" in said
    assert "Traceback" not in said


def test_without_gradio_the_command_exits_2_and_says_where_it_lives(multi_model, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # what a missing package looks like to import
    assert demo.main(["--model", str(multi_model)]) == 2
    err = capsys.readouterr().err
    assert "make demo" in err and "pip install '.[demo]'" in err


def test_a_bad_model_folder_or_port_is_a_message(tmp_path, capsys):
    assert demo.main(["--model", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no config.json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        demo.main(["--port", "70000"])
    assert stop.value.code == 2 and "--port" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the page (gradio)
def test_the_page_holds_the_text_box_examples_probabilities_and_upload(multi_model, tiny, tmp_path):
    pytest.importorskip("gradio", reason="gradio is the 'demo' extra (make demo / .venv-tf5)")
    model = demo.load_demo_model(multi_model, runtime="torch")
    components = demo.build_app(model, tmp_path).config["components"]
    kinds = [c["type"] for c in components]
    assert {"textbox", "button", "label", "file", "dataset"} <= set(kinds), kinds
    label = next(c for c in components if c["type"] == "label")
    assert label["props"]["num_top_classes"] == 7
    shown = json.dumps(components, ensure_ascii=False)
    assert "tiny_multi" in shown and "PyTorch" in shown and demo.SMOKE_WARNING not in shown
    assert all(json.dumps(e, ensure_ascii=False)[1:-1] in shown for e in demo.EXAMPLES[:1])
    smoke = demo.load_demo_model(make_run(paths_for("quick").runs, "smoke", tiny, "multi", 0.1), runtime="torch")
    assert demo.SMOKE_WARNING in json.dumps(demo.build_app(smoke, tmp_path).config["components"], ensure_ascii=False)


# ----------------------------------------------------------------------------- the page in a real browser
def browser_or_skip(tmp: Path):
    """A headless Chromium driven by Selenium (its profile under ``tmp``), or a skip that names the missing piece."""
    pytest.importorskip("gradio", reason="gradio is the 'demo' extra (make demo / .venv-tf5)")
    pytest.importorskip("selenium", reason="selenium is the 'demo' extra (.venv-tf5)")
    for program, package in ((shot.CHROMIUM, "chromium"), (shot.CHROMEDRIVER, "chromium-driver")):
        if not program.exists():
            pytest.skip(f"{program} not found: apt-get install {package} (.ci/run does)")
    return shot.browser(tmp=tmp)


@pytest.fixture(scope="module")
def page(multi_model, tmp_path_factory):
    """The app of the tiny multi-label model served on a free local port, and a browser on it (the CSVs and the
    browser's profile in a tmp folder)."""
    tmp = tmp_path_factory.mktemp("page")
    driver, app = browser_or_skip(tmp), None
    try:
        model = demo.load_demo_model(multi_model, runtime="torch")
        app = demo.build_app(model, tmp)
        port = shot.free_port()
        app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        yield driver, f"http://127.0.0.1:{port}/", model
    finally:
        driver.quit()
        if app is not None:
            app.close()


def shown_probabilities(driver) -> dict[str, float]:
    """The Label's rows as the page shows them: {class: percent / 100}."""
    rows = shot.wait_for(driver, "#probabilities .confidence-set", lambda r: len(r) == 7)
    shown = {}
    for row in rows:
        name, percent = row.find_element("css selector", ".text").text, row.find_element("css selector", ".confidence")
        shown[name.strip()] = float(percent.text.strip().rstrip("%")) / 100
    return shown


@pytest.mark.slow
def test_a_typed_sentence_shows_its_probabilities_and_class(page, tmp_path):
    from selenium.webdriver.common.by import By

    driver, url, model = page
    driver.get(url)
    box = shot.wait_for(driver, "#text textarea", lambda e: e[0].is_displayed())[0]
    box.send_keys(TEXTS[0])
    driver.find_element(By.CSS_SELECTOR, "#classify").click()
    said = shot.wait_for(driver, "#verdict", lambda e: "predicted:" in e[0].text)[0].text
    expected, names = pr.predict_proba([TEXTS[0]], model.loaded.model_dir, runtime="torch")
    best = names[int(np.argmax(expected[0]))]
    assert f"predicted: {best}" in said and "groups above threshold 0.35" in said
    shown = shown_probabilities(driver)
    assert sorted(shown) == sorted(LABELS)
    np.testing.assert_allclose([shown[c] for c in names], expected[0], atol=0.006)  # the page rounds to 1%
    heading = driver.find_element(By.CSS_SELECTOR, "#probabilities h2").text.strip()
    assert heading == best, "the Label's heading is the most probable class"
    assert "tiny_multi" in driver.page_source and "Traceback" not in driver.page_source


def upload(driver, path: Path) -> None:
    """Choose ``path`` in the page's file input (Gradio uploads it on the change)."""
    shot.wait_for(driver, "#upload input[type=file]", lambda e: True)[0].send_keys(str(path))


@pytest.mark.slow
def test_an_uploaded_file_comes_back_as_a_csv_of_its_predictions(page, tmp_path):
    driver, url, model = page
    driver.get(url)
    f = tmp_path / "three.txt"
    f.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    upload(driver, f)
    link = shot.wait_for(driver, "#download a[href]", lambda e: e[0].get_attribute("href"))[0].get_attribute("href")
    assert link.startswith(url.rstrip("/")), link
    with urllib.request.urlopen(link, timeout=30) as answer:
        rows = list(csv.DictReader(io.StringIO(answer.read().decode("utf-8"))))
    expected, names = pr.predict_proba(TEXTS, model.loaded.model_dir, runtime="torch")
    assert len(rows) == 3 and list(rows[0]) == ["text", "predicted", *LABELS, "groups"]
    assert [r["text"] for r in rows] == TEXTS
    assert [r["predicted"] for r in rows] == [names[i] for i in expected.argmax(1)]
    assert "3 lines classified" in shot.wait_for(driver, "#file-message", lambda e: e[0].text)[0].text


@pytest.mark.slow
def test_a_binary_upload_gets_a_clear_message_not_a_traceback(page, tmp_path):
    driver, url, _ = page
    driver.get(url)
    f = tmp_path / "picture.bin"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    upload(driver, f)
    said = shot.wait_for(driver, "#file-message", lambda e: "error" in e[0].text)[0].text
    assert "picture.bin:3: a NUL byte: this looks like a binary file" in said
    assert "Traceback" not in driver.page_source

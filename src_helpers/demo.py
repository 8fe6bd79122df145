"""A small web page to try the best local model: ``make demo`` or ``python -m src_helpers.demo`` (Gradio).

    python -m src_helpers.demo                      # the best local model, http://127.0.0.1:7860
    python -m src_helpers.demo --model notebook_outputs/runs/<run>/model --port 7861

The model: ``--model``, else the best full-profile run by dev macro-F1 (multi-label first: its sigmoid probabilities
show every group above its dev-chosen threshold), else the quick profile's smoke model with a warning on the page.
It loads once, on ONNX Runtime int8 where the folder has a matching export (``predict.pick_runtime``). Gradio lives in
the transformers-5 environment (``.venv-tf5``, the ``demo`` extra): gradio 6 needs huggingface-hub 1.x, which
transformers 4 refuses. The page, its input checks and its CSV are plain functions here, tested without a browser.
"""

from __future__ import annotations

import argparse
import atexit
import csv
import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from src_helpers.config import paths_for
from src_helpers.data.textio import DataFormatError, read_json, read_text, split_lines
from src_helpers.predict import HOW_TO_TRAIN, RUNTIMES, LoadedModel, best_model_dir, load_model
from src_helpers.validation import COUNT, Range, cli

MAX_CHARS = 2_000  # a text (or a file's line) longer than this is refused: the model reads 128-512 tokens anyway
MAX_FILE_BYTES = 1_000_000
MAX_LINES = 10_000
PORT = Range(1, 65535, integer=True)
SMOKE_WARNING = "smoke model: trained on the bundled sample for a few steps; its predictions are not a result"
NO_GRADIO = ("the demo needs Gradio, which lives in the transformers-5 environment: run `make demo`, or "
             "`pip install '.[demo]'` there (pip install -c constraints-tf5.txt -e '.[dev,studies,demo]')")
MAKE_SMOKE = ("or, for a smoke model on the bundled sample (minutes on a CPU): `make run` (it keeps the model the demo "
              "serves), or `python -m src_helpers.training.finetune --profile quick --target multi`")
EXAMPLES = [
    "I can't believe you remembered my birthday, thank you so much!",
    "This is the third time the bus didn't show up. I'm furious.",
    "Ugh, someone left their old food in the fridge again. Gross.",
    "I heard footsteps behind me in the dark and froze.",
    "Wait, they cancelled the whole season? Since when?",
    "I miss my grandmother every single day.",
]


@dataclass(frozen=True)
class DemoModel:
    """The served model: its loaded scorer, whether it is multi-label (with its dev-chosen threshold), the run it
    comes from, that run's dev macro-F1 and whether it is a quick-profile smoke model."""

    loaded: LoadedModel
    multi: bool
    threshold: float | None
    run: str
    dev_macro_f1: float | None
    smoke: bool

    @property
    def labels(self) -> list[str]:
        return self.loaded.labels

    @property
    def runtime_name(self) -> str:
        return "ONNX Runtime int8" if self.loaded.runtime == "onnx" else "PyTorch"

    def describe(self) -> str:
        """One Markdown line: which model is served, on which runtime."""
        score = f"dev macro-F1 {self.dev_macro_f1:.4f}" if self.dev_macro_f1 is not None else "no dev score stored"
        kind = f"multi-label, threshold {self.threshold:.2f}" if self.multi else "single-label"
        return f"Model `{self.run}` ({kind}, {score}) on {self.runtime_name}."

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.loaded.predict_proba(texts)


def is_smoke(model_dir: Path) -> bool:
    """The folder lies under the quick profile's runs (``.smoke/runs``, what ``make run`` trains)."""
    return model_dir.resolve().is_relative_to(paths_for("quick").runs.resolve())


def find_model_dir() -> Path:
    """The best full-profile model (multi-label first), else the best quick-profile (smoke) one; with none, a
    ``FileNotFoundError`` that says how to train one."""
    for profile in ("full", "quick"):
        found = best_model_dir(paths_for(profile).runs, prefer="multi")
        if found is not None:
            return found
    raise FileNotFoundError(f"no fine-tuned model under {paths_for('full').runs} or {paths_for('quick').runs}: "
                            f"{HOW_TO_TRAIN}, {MAKE_SMOKE}")


def check_model_dir(model_dir: Path) -> Path:
    """``model_dir`` when it holds a config.json, else a ``FileNotFoundError`` naming it."""
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"--model {model_dir}: no config.json (expected a <run>/model folder)")
    return model_dir


def load_demo_model(model_dir: str | Path | None = None, runtime: str = "auto",
                    threads: int | None = None) -> DemoModel:
    """The model of ``model_dir`` (default: ``find_model_dir``) loaded once, with its run's facts."""
    model_dir = check_model_dir(Path(model_dir) if model_dir else find_model_dir())
    config = read_json(model_dir / "config.json")
    multi = config.get("ekman_target") == "multi" or config.get("problem_type") == "multi_label_classification"
    threshold = float(config.get("ekman_threshold", 0.5)) if multi else None
    metrics_file = model_dir.parent / "metrics.json"
    dev = read_json(metrics_file).get("dev", {}) if metrics_file.is_file() else {}
    score = dev.get("macro_f1")
    return DemoModel(load_model(model_dir, runtime, threads=threads), multi, threshold, model_dir.parent.name,
                     None if score is None else float(score), is_smoke(model_dir))


# ----------------------------------------------------------------------------- input checks
def check_text(text: str | None) -> str:
    """The text to classify; empty or too long raises a ``ValueError`` that says so."""
    if text is None or not text.strip():
        raise ValueError("the text is empty: type a sentence (or pick an example)")
    if len(text) > MAX_CHARS:
        raise ValueError(f"the text has {len(text):,} characters; the demo takes at most {MAX_CHARS:,}")
    return text


def read_upload(path: str | Path, name: str | None = None) -> list[str]:
    """The non-blank lines of an uploaded UTF-8 text file (``name``: how messages call it, default its file name);
    an empty, too large, binary or non-UTF-8 file, or a too long line, raises a ``ValueError`` naming it."""
    path = Path(path)
    name = name or path.name
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{name} has {size:,} bytes; the demo takes files up to {MAX_FILE_BYTES:,} bytes")
    data = path.read_bytes()
    if b"\0" in data:
        line = data.count(b"\n", 0, data.index(b"\0")) + 1
        raise ValueError(f"{name}:{line}: a NUL byte: this looks like a binary file, not text (one sentence a line)")
    try:
        text = read_text(path)
    except DataFormatError as e:
        raise ValueError(str(e).replace(str(path), name, 1)) from None
    lines = [line for line in split_lines(text) if line.strip()]
    if not lines:
        raise ValueError(f"{name} is empty: write one sentence per line")
    if len(lines) > MAX_LINES:
        raise ValueError(f"{name} has {len(lines):,} non-blank lines; the demo takes at most {MAX_LINES:,}")
    for lineno, line in enumerate(split_lines(text), start=1):
        if len(line) > MAX_CHARS:
            raise ValueError(f"{name}:{lineno}: {len(line):,} characters; a line may have at most {MAX_CHARS:,}")
    return lines


# ----------------------------------------------------------------------------- predictions as text and CSV
def groups(probs: np.ndarray, labels: Sequence[str], threshold: float | None) -> list[str]:
    """The classes at or above ``threshold``, most probable first; single-label (None): the most probable one."""
    order = np.argsort(-probs, kind="stable")
    if threshold is None:
        return [labels[order[0]]]
    return [labels[i] for i in order if probs[i] >= threshold]


def verdict(probs: np.ndarray, labels: Sequence[str], threshold: float | None) -> str:
    """Markdown: the predicted class, and the multi-label groups above the threshold (or that there is one class)."""
    predicted = labels[int(np.argmax(probs))]
    if threshold is None:
        return f"**predicted:** {predicted}\n\nsingle-label model: one class per text (probabilities sum to 1)"
    found = groups(probs, labels, threshold)
    shown = ", ".join(found) if found else "none (no class reaches it)"
    return f"**predicted:** {predicted}\n\n**groups above threshold {threshold:.2f}:** {shown}"


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads a cell starting so as a formula


def spreadsheet_safe(text: str) -> str:
    """``text``, with a leading ``'`` when it starts like a formula (``=HYPERLINK(...)``): Excel and LibreOffice then
    show it as text instead of running it (OWASP's advice on CSV injection)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def predictions_csv(texts: Sequence[str], probs: np.ndarray, labels: Sequence[str], threshold: float | None) -> str:
    """CSV text: one row per text (``spreadsheet_safe``) with its predicted class, the probability of every class
    and its groups (separated by ``;``)."""
    if len(texts) != len(probs):
        raise ValueError(f"{len(texts)} texts but {len(probs)} rows of probabilities")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["text", "predicted", *labels, "groups"])
    for text, row in zip(texts, probs, strict=True):
        writer.writerow([spreadsheet_safe(text), labels[int(np.argmax(row))], *(f"{p:.6f}" for p in row),
                         ";".join(groups(row, labels, threshold))])
    return out.getvalue()


# ----------------------------------------------------------------------------- the page
def classify_text(model: DemoModel, text: str | None) -> tuple[dict[str, float], str]:
    """The page's answer to a text: ``{class: probability}`` for the Label and the Markdown verdict."""
    probs = model.predict_proba([check_text(text)])[0]
    return {name: float(p) for name, p in zip(model.labels, probs, strict=True)}, verdict(probs, model.labels,
                                                                                           model.threshold)


def classify_file(model: DemoModel, path: str | Path, folder: str | Path | None = None) -> tuple[Path, str]:
    """The CSV of an uploaded file's predictions (written in ``folder``, default a new temporary one) and a
    Markdown line that says how many rows it holds."""
    path = Path(path)
    texts = read_upload(path)
    csv_text = predictions_csv(texts, model.predict_proba(texts), model.labels, model.threshold)
    out = Path(folder or tempfile.mkdtemp(prefix="demo_")) / f"{path.stem}_predictions.csv"
    out.write_text(csv_text, encoding="utf-8")
    return out, f"{len(texts)} lines classified: {out.name}"


def error_text(error: Exception) -> str:
    return f"**error:** {error}"


def prune(folder: str | Path, max_age: float) -> None:
    """Remove the subfolders of ``folder`` older than ``max_age`` seconds (the CSVs of earlier uploads)."""
    now = time.time()
    for sub in Path(folder).iterdir():
        if sub.is_dir() and now - sub.stat().st_mtime > max_age:
            shutil.rmtree(sub, ignore_errors=True)


def _gradio() -> Any:
    """Gradio, imported without its usage analytics (the demo runs offline); ``ImportError`` says how to install."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        import gradio
    except ImportError as e:
        raise ImportError(NO_GRADIO) from e
    return gradio


def build_app(model: DemoModel, folder: str | Path | None = None) -> Any:
    """The page (a ``gr.Blocks``): a text box with examples, the seven probabilities, the verdict, and a text file
    upload that returns a CSV (written under ``folder``; default: a temporary folder removed when Python exits). Bad
    input gets a message on the page, not a traceback."""
    gr = _gradio()
    if folder is None:
        folder = tempfile.mkdtemp(prefix="ekman_demo_")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)

    def on_text(text: str | None) -> tuple[Any, str]:
        try:
            return classify_text(model, text)
        except ValueError as e:
            gr.Warning(str(e))
            return None, error_text(e)

    def on_file(upload: str | None) -> tuple[Any, str]:
        if not upload:
            return None, ""
        try:
            prune(folder, max_age=3600)  # Gradio has long copied older answers into its own cache
            out, message = classify_file(model, upload, tempfile.mkdtemp(dir=folder))  # a folder per request
        except (ValueError, UnicodeDecodeError, OSError) as e:
            gr.Warning(str(e))
            return None, error_text(e)
        return str(out), message

    with gr.Blocks(title="Ekman emotions: try the model", delete_cache=(3600, 3600)) as app:  # uploads kept 1 h
        gr.Markdown("# Which emotion? GoEmotions' seven Ekman groups\n\n" + model.describe())
        if model.smoke:
            gr.Markdown(f"⚠️ **{SMOKE_WARNING}**", elem_id="smoke-warning")
        with gr.Row():
            with gr.Column():
                text = gr.Textbox(label="Text", lines=3, placeholder="Type a sentence in English", elem_id="text")
                button = gr.Button("Classify", variant="primary", elem_id="classify")
                gr.Examples(EXAMPLES, inputs=text, label="Examples")
            with gr.Column():
                probabilities = gr.Label(num_top_classes=len(model.labels), label="Probability of each class",
                                         elem_id="probabilities")
                answer = gr.Markdown(elem_id="verdict")
        gr.Markdown("### A file of texts\nA UTF-8 text file, one sentence per line: the predictions come back as CSV.")
        with gr.Row():
            upload = gr.File(label="Text file (one sentence per line)", elem_id="upload")
            download = gr.File(label="Predictions (CSV)", elem_id="download")
        file_message = gr.Markdown(elem_id="file-message")
        # one queue for all three: one request at a time uses the model (a fast tokenizer is not thread-safe)
        button.click(on_text, text, [probabilities, answer], concurrency_id="model")
        text.submit(on_text, text, [probabilities, answer], concurrency_id="model")
        upload.upload(on_file, upload, [download, file_message], concurrency_id="model")
    return app


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Serve the best local model on a web page (Gradio).")
    p.add_argument("--model", help="model folder (default: the best local run, multi-label first; see above)")
    p.add_argument("--runtime", choices=RUNTIMES, default="auto",
                   help="onnx: the int8 export, torch: PyTorch; auto (default): onnx when it matches the weights")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default: this machine only)")
    p.add_argument("--port", type=cli(PORT), default=7860)
    p.add_argument("--threads", type=cli(COUNT), default=None, help="CPU threads (default: the runtime's)")
    a = p.parse_args(argv)
    try:
        model_dir = check_model_dir(Path(a.model) if a.model else find_model_dir())
        _gradio()
        model = load_demo_model(model_dir, a.runtime, a.threads)
    except (ImportError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(model.describe())
    if model.smoke:
        print(f"warning: {SMOKE_WARNING}")
    try:
        build_app(model).launch(server_name=a.host, server_port=a.port)
    except OSError as e:  # the port is taken
        print(f"error: {e} (choose another with --port)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

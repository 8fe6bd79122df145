"""Fine-tune any ``AutoModelForSequenceClassification`` with Hugging Face ``Trainer`` (``TransformerTrainer``).
CLI, one flag per ``FTConfig`` field: ``python -m src_helpers.training.finetune --profile full``."""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from src_helpers.config import PROFILES, REPO_ROOT
from src_helpers.data.encoding import model_input_names
from src_helpers.data.labels import EKMAN, GOEMOTIONS, LABEL_SETS, LabelSet, label_set
from src_helpers.evaluation.results import TARGETS, RunResult, report, targets
from src_helpers.experiments.run_folders import load_run, read_config
from src_helpers.training import scored, write_run
from src_helpers.training.checkpoints import checkpoint_folder_problem, set_aside, write_errors
from src_helpers.training.configs import PRECISIONS, RANGES, FTConfig
from src_helpers.training.losses import class_weights
from src_helpers.training.resume import FRESH, REUSE, Record, data_fingerprint, decide
from src_helpers.training.transformer_model import (
    build_model,
    encode,
    load_model_dir,
    load_tokenizer,
    precision_flags,
    probabilities,
    save_model,
)
from src_helpers.validation import COUNT, add_dataclass_flags, cli, dataclass_from_args

log = logging.getLogger(__name__)
RUNTIME_FIELDS = ("num_threads", "logging_steps")  # do not change results: ignored when reusing a run


@dataclass(kw_only=True)
class FTResult(RunResult):
    """``RunResult`` of a fine-tuning run; ``train_seconds``: this session's training time."""

    model_dir: Path
    trainable_params: int
    total_params: int
    train_seconds: float


def warmup_and_grouping(warmup_ratio: float) -> dict:
    """Warm-up ratio and length-grouped batches, named as the installed transformers (4.x or 5.x) names them."""
    from transformers import TrainingArguments

    if "warmup_ratio" in TrainingArguments.__dataclass_fields__:  # transformers 4
        return {"warmup_ratio": warmup_ratio, "group_by_length": True}
    # transformers 5: a float warmup_steps below 1 is a ratio of the training steps
    return {"warmup_steps": warmup_ratio, "train_sampling_strategy": "group_by_length"}


def make_compute_metrics(target: str, labels: LabelSet = EKMAN):
    """Dev metrics for Trainer (macro-F1 selects the best epoch). A NaN macro-F1 is reported as -inf with a
    warning: Trainer keeps the first epoch as the best unless a later one is greater, which a NaN never is."""

    def compute(eval_pred) -> dict[str, float]:
        y = eval_pred.label_ids
        rep = report(y.astype(int) if target == "single" else y, probabilities(eval_pred.predictions, target), target,
                     labels=labels)
        keys = ("macro_f1", "accuracy") if target == "single" else ("macro_f1", "micro_f1", "threshold")
        out = {k: rep[k] for k in keys}
        if math.isnan(out["macro_f1"]):
            warnings.warn("dev macro-F1 is NaN: reported as -inf, so the epoch is never chosen as the best",
                          stacklevel=2)
            out["macro_f1"] = float("-inf")
        return out

    return compute


def epoch_history(log_history: list[dict]) -> pd.DataFrame:
    """One row per epoch: mean train loss of the epoch's log steps, dev loss and dev metrics."""
    logs = pd.DataFrame(log_history)
    if "eval_loss" not in logs:
        return pd.DataFrame()
    evals = logs[logs["eval_loss"].notna()].rename(columns=lambda c: c.replace("eval_", "dev_"))
    df = evals.assign(epoch=evals["epoch"].round().astype(int)).drop_duplicates("epoch", keep="last")
    if "loss" in logs:  # a step logged at epoch 1.5 counts for epoch 2
        steps = logs[logs["loss"].notna() & logs["epoch"].notna()]
        df["train_loss"] = df["epoch"].map(steps["loss"].groupby(np.ceil(steps["epoch"] - 1e-9).clip(1)).mean())
    cols = ["epoch", "train_loss", "dev_loss", "dev_macro_f1", "dev_accuracy", "dev_micro_f1", "dev_threshold"]
    return df.sort_values("epoch")[[c for c in cols if c in df]].reset_index(drop=True)


def make_trainer(config: FTConfig, model: nn.Module, tokenizer, frames: dict[str, pd.DataFrame], ckpt_dir: Path,
                 labels: LabelSet = EKMAN, on_epoch_end: Callable[[int, dict], None] | None = None):
    """The (class-weighted when asked) ``Trainer``: dev-scored and checkpointed each epoch, the best one kept."""
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    ys = {s: targets(frames[s], config.target, labels) for s in ("train", "dev")}
    weights = class_weights(ys["train"], config.target, len(labels.classes)) if config.class_weights else None

    class WeightedTrainer(Trainer):
        """Trainer with class-weighted cross-entropy / BCE (``weights`` None: the model's own loss)."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if weights is None:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            logits, w = outputs.logits.float(), weights.to(outputs.logits.device)
            loss = (nn.functional.cross_entropy(logits, labels, weight=w) if config.target == "single" else
                    nn.functional.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=w))
            return (loss, outputs) if return_outputs else loss

    class EpochEnd(TrainerCallback):
        """``on_epoch_end(epoch, row)`` after each dev evaluation (an exception it raises stops training)."""

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            row = {"dev_" + k.removeprefix("eval_"): v for k, v in (metrics or {}).items()}
            on_epoch_end(round(state.epoch or 0), row)

    data = {s: encode(tokenizer, frames[s]["text"], ys[s], config.max_length, model_input_names(model))
            for s in ("train", "dev")}
    args = TrainingArguments(
        output_dir=str(ckpt_dir), num_train_epochs=config.epochs, learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, weight_decay=config.weight_decay,
        lr_scheduler_type="linear", **warmup_and_grouping(config.warmup_ratio),
        eval_strategy="epoch", save_strategy="epoch", save_total_limit=2, load_best_model_at_end=True,
        metric_for_best_model="macro_f1", greater_is_better=True, logging_strategy="steps",
        logging_steps=min(config.logging_steps, max(1, len(data["train"]) // (5 * config.batch_size))),
        report_to="none", seed=config.seed, use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0, label_names=["labels"], save_only_model=False,
        **precision_flags(getattr(model.config, "model_type", ""), config.precision))
    return WeightedTrainer(
        model=model, args=args, train_dataset=data["train"], eval_dataset=data["dev"], processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=make_compute_metrics(config.target, labels),
        callbacks=None if on_epoch_end is None else [EpochEnd()])


# ----------------------------------------------------------------------------- checkpoints
def _checkpoint_folders(ckpt_dir: Path) -> list[Path]:
    return [p for p in ckpt_dir.glob("checkpoint-*") if p.is_dir() and re.fullmatch(r"checkpoint-\d+", p.name)]


def last_good_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest readable ``checkpoint-N`` folder or None; newer unreadable ones are set aside with a warning."""
    broken: list[tuple[Path, str]] = []
    for good in sorted(_checkpoint_folders(ckpt_dir), key=lambda p: int(p.name.rsplit("-", 1)[1]), reverse=True):
        if (problem := checkpoint_folder_problem(good)) is None:
            break
        broken.append((good, problem))
    else:
        good = None
    then = f"resuming from {good}" if good else "the run starts over from scratch"
    for bad, why in broken:
        log.warning(set_aside(bad, why, then))
    return good


def remove_checkpoints(ckpt_dir: Path) -> None:
    """Delete the ``checkpoint-N`` folders (``ft_config.json`` and set-aside ones stay)."""
    for folder in _checkpoint_folders(ckpt_dir):
        shutil.rmtree(folder)


# ----------------------------------------------------------------------------- the trainer
def _settings(ft: Mapping, labels: str | None) -> dict:
    """What a reuse or resume compares: the ``FTConfig`` (runtime fields aside) and the label set."""
    return {**{k: v for k, v in ft.items() if k not in RUNTIME_FIELDS}, "labels": labels}


def _ft_dict(config: FTConfig) -> dict:
    """``asdict(config)``; a warm start from a run inside the repository is named relative to it."""
    ft, path = asdict(config), Path(config.model_name)
    if path.is_absolute() and path.is_relative_to(REPO_ROOT):
        ft["model_name"] = path.relative_to(REPO_ROOT).as_posix()
    return ft


def _records(run_dir: Path) -> tuple[Record | None, Record | None]:
    """What the finished run (``config.json`` with ``model/``) and the checkpoints (``ft_config.json``) recorded."""
    finished = checkpoints = None
    config_file, stored = run_dir / "config.json", run_dir / "checkpoints" / "ft_config.json"
    if config_file.exists() and (run_dir / "model" / "config.json").exists():
        config = read_config(run_dir)
        finished = Record(_settings(config["ft"], config["labels"]), config["data"], config_file)
    if stored.exists():
        saved = json.loads(stored.read_text())
        ft = {k: v for k, v in saved.items() if k not in ("labels", "data")}
        checkpoints = Record(_settings(ft, saved.get("labels")), saved.get("data"), stored)
    return finished, checkpoints


class TransformerTrainer:
    """Fine-tuning behind ``training.Trainer``; ``data_settings`` (``{"train_rows": 200}``) go in the fingerprint."""

    def __init__(self, config: FTConfig, labels: LabelSet = EKMAN, data_settings: Mapping | None = None,
                 on_epoch_end: Callable[[int, dict], None] | None = None, keep_checkpoints: bool = True) -> None:
        self.config, self.labels, self.data_settings = config, labels, dict(data_settings or {})
        self.on_epoch_end, self.keep_checkpoints = on_epoch_end, keep_checkpoints
        self.model: nn.Module | None = None
        self.tokenizer = None

    def fit(self, splits: dict[str, pd.DataFrame], run_dir: str | Path, resume: bool = True) -> FTResult:
        """Fine-tune (or reuse or resume, ``resume.decide``), pick the best epoch on dev, write the run folder."""
        from transformers import set_seed

        config, run_dir = self.config, Path(run_dir)
        ckpt_dir = run_dir / "checkpoints"
        for name in ("train", "dev", "test"):
            if len(splits[name]) == 0 or "text" not in splits[name]:
                raise ValueError(f"{name} split must be a non-empty DataFrame with a 'text' column")
        ft, data = _ft_dict(config), data_fingerprint(splits, **self.data_settings)
        decision = decide(*_records(run_dir), _settings(ft, self.labels.name), data, resume)
        if decision == REUSE:
            log.info("reusing the finished run %s", run_dir)
            stored = load_run(run_dir).result()
            extra = stored.config.get("result", {})
            kept = {f.name: getattr(stored, f.name) for f in fields(stored) if f.name != "name"}
            return FTResult(**{**kept, "run_dir": run_dir, "config": config, "target": config.target, "extra": extra},
                            model_dir=run_dir / "model", trainable_params=extra.get("trainable_params", 0),
                            total_params=extra.get("total_params", 0),
                            train_seconds=extra.get("train_seconds", float("nan")))
        if decision == FRESH:
            remove_checkpoints(ckpt_dir)
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        set_seed(config.seed)
        self.tokenizer = load_tokenizer(config.model_name)
        self.model = build_model(config, self.tokenizer, self.labels.classes)
        params = self.model.num_parameters(only_trainable=True), self.model.num_parameters()
        log.info("%s: %d trainable of %d parameters", config.model_name, *params)
        trainer = make_trainer(config, self.model, self.tokenizer, splits, ckpt_dir, self.labels, self.on_epoch_end)
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        (ckpt_dir / "ft_config.json").write_text(json.dumps({**ft, "labels": self.labels.name, "data": data},
                                                            indent=2))
        last = last_good_checkpoint(ckpt_dir) if decision != FRESH else None
        t0 = time.perf_counter()
        with write_errors(ckpt_dir, "checkpoints under", note="; call again once there is room: a partly "
                          "written checkpoint is set aside and the run resumes from the one before, or starts over"):
            trainer.train(resume_from_checkpoint=str(last) if last else None)
        train_seconds = time.perf_counter() - t0  # this session only (a resumed run counts its remainder)
        self.model = trainer.model
        with write_errors(run_dir, "the run folder"):  # the best epoch on dev and test, model/ and the run folder
            y = {s: targets(splits[s], config.target, self.labels) for s in ("dev", "test")}
            scores = scored(y["dev"], self.predict_proba(splits["dev"]["text"].tolist()), y["test"],
                            self.predict_proba(splits["test"]["text"].tolist()), config.target, self.labels)
            model_dir = save_model(trainer.model, self.tokenizer, run_dir / "model", config, scores["threshold"])
            history, best = epoch_history(trainer.state.log_history), trainer.state.best_model_checkpoint
            info = {"trainable_params": params[0], "total_params": params[1], "train_seconds": train_seconds,
                    "best_checkpoint": best and Path(best).resolve().relative_to(run_dir.resolve()).as_posix(),
                    "train_rows": len(splits["train"]),
                    "device": "cuda" if torch.cuda.is_available() else f"cpu x{torch.get_num_threads()}"}
            name = Path(config.model_name)
            name = (name.parent.name if name.name == "model" else name.name) if name.exists() else config.model_name
            meta = {"model": f"transformer:{name}" + ("+lora" if config.lora else ""), "target": config.target,
                    "ft": ft, "labels": self.labels.name, "data": data, "result": info}
            result = write_run(FTResult(run_dir=run_dir, config=config, **scores, history=history, extra=info,
                                        model_dir=model_dir, trainable_params=params[0], total_params=params[1],
                                        train_seconds=train_seconds), meta, splits, history.to_dict("records"))
        if not self.keep_checkpoints:
            remove_checkpoints(ckpt_dir)
        return result

    @torch.inference_mode()
    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Probabilities on ``texts`` in their order (``Trainer.predict`` would shuffle them), a column per class."""
        from transformers import DataCollatorWithPadding

        model, config, batch_size = self.model, self.config, batch_size or self.config.eval_batch_size
        if model is None:
            raise RuntimeError("TransformerTrainer.predict_proba needs a fitted or loaded model (fit or load first)")
        ds = encode(self.tokenizer, texts, np.zeros(len(texts), dtype=int), config.max_length, model_input_names(model))
        order = np.argsort([len(x["input_ids"]) for x in ds], kind="stable")
        collator, device, out = DataCollatorWithPadding(self.tokenizer), next(model.parameters()).device, []
        model.eval()
        for start in range(0, len(ds), batch_size):
            batch = collator([ds[i] for i in order[start:start + batch_size]])
            batch = {k: v.to(device) for k, v in batch.items() if k != "labels"}
            out.append(model(**batch).logits.float().cpu().numpy())
        logits = np.concatenate(out)
        probs = np.empty(logits.shape, dtype=np.float32)  # one column per output of the model
        probs[order] = probabilities(logits, config.target)
        return probs

    @classmethod
    def load(cls, model_dir: str | Path, quantized: bool = False) -> TransformerTrainer:
        """The trainer of a saved model folder (``<run>/model``): its target, length and classes as saved."""
        tokenizer, model = load_model_dir(str(model_dir), quantized)
        multi = model.config.problem_type == "multi_label_classification"
        max_length = min(tokenizer.model_max_length, model.config.max_position_embeddings or 512, 512)
        names = [model.config.id2label[i] for i in range(model.config.num_labels)]
        config = FTConfig(model_name=str(model_dir), target="multi" if multi else "single", max_length=max_length)
        known = (s for s in LABEL_SETS.values() if s.classes == tuple(names))
        trainer = cls(config, next(known, LabelSet("model", tuple(names), "label")))
        trainer.model, trainer.tokenizer = model, tokenizer
        return trainer


# ----------------------------------------------------------------------------- CLI
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The data flags, then one flag per ``FTConfig`` field (``--model-name``, ``--learning-rate``...)."""
    p = argparse.ArgumentParser(description="Fine-tune a transformer on the Ekman targets (resumable).")
    p.add_argument("--profile", choices=PROFILES, default="quick")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--train-rows", type=cli(COUNT), default=None, help="stratified subset of train")
    p.add_argument("--run-name", default=None, help="default: the registry's name for these settings")
    p.add_argument("--labels", choices=(EKMAN.name, GOEMOTIONS.name), default=EKMAN.name,
                   help="the classes to learn: the 7 Ekman groups, or the 28 GoEmotions labels (target multi)")
    add_dataclass_flags(p, FTConfig, RANGES[FTConfig], {"target": TARGETS, "precision": PRECISIONS})
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from src_helpers.config import paths_for
    from src_helpers.data.goemotions import load_for_profile, subsample
    from src_helpers.experiments.registry import Experiment

    a = parse_args(argv)
    cfg = dataclass_from_args(FTConfig, a)
    if a.labels == GOEMOTIONS.name and cfg.target != "multi":
        print(f"error: --labels {GOEMOTIONS.name} has multi-label targets only: pass --target multi", file=sys.stderr)
        raise SystemExit(2)
    logging.basicConfig(level=logging.INFO)
    splits = load_for_profile(a.profile, a.data_dir)
    if a.train_rows:
        splits = {**splits, "train": subsample(splits["train"], a.train_rows)}
    name = a.run_name or Experiment(f"transformer_minilm{'_lora' if cfg.lora else ''}_single", "transformer", cfg,
                                    target=cfg.target, labels=a.labels).run_name
    trainer = TransformerTrainer(cfg, label_set(a.labels), data_settings={"train_rows": a.train_rows})
    runs = paths_for(a.profile, data=splits).ensure().runs
    res = trainer.fit(splits, runs / name)
    if trainer.labels == GOEMOTIONS:  # the 28 labels read as Ekman groups: two more run folders
        from src_helpers.experiments.fine_labels import ekman_runs

        for grouped in ekman_runs(res, splits, runs).values():
            print(f"{grouped.name}: dev macro-F1 {grouped.dev['macro_f1']:.4f}")
    print(json.dumps({"run": str(res.run_dir), "dev_macro_f1": res.dev["macro_f1"],
                      "test": {k: res.test.get(k) for k in ("accuracy", "macro_f1", "micro_f1")}}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

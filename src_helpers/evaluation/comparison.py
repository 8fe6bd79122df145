"""The final comparison (notebook 08): every finished run folder side by side, read from disk, nothing trained."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.data.labels import label_set
from src_helpers.evaluation import cross_domain, figures, stats, tables
from src_helpers.evaluation import references as reference_results
from src_helpers.evaluation.results import RunResult, check_target
from src_helpers.experiments.registry import BASELINE, EXPERIMENTS, RUNTIME, Experiment, jsonable, with_overrides
from src_helpers.experiments.run_folders import EVALUATIONS, Run, RunFolderError, load_result, load_run, run_folders

DATASETS = {"ekman": "goemotions", "dair": "dair", "goemotions": "goemotions-28"}  # label set -> data set
ARCH_FAMILY = {"lstm": "rnn", "gru": "rnn", "xlstm": "xlstm", "rwkv": "rwkv"}  # an RNN run's model_config.arch
ENSEMBLE = "ensemble"  # config.json's model of an ensemble's run folder (evaluation.ensemble)
RULES = {"dataset": "not GoEmotions (another label set)", "subset": "trained on a {}-row train subset",
         "seed": "extra seed (seed {}): a repeat of its variant", "multi": "multi-label run without a single-label "
         "sibling on the leaderboard", "caller": "excluded by the caller"}


def _family(config: dict) -> str:
    """tfidf, rnn (LSTM/GRU), xlstm, rwkv, transformer or ensemble, from what the run's config records."""
    if config.get("model") == ENSEMBLE:
        return "ensemble"
    if config.get("model") == "tfidf_logreg":
        return "tfidf"
    if "model_config" in config:
        arch = config["model_config"].get("arch")
        if arch not in ARCH_FAMILY:
            raise ValueError(f"config.json has an unknown model_config.arch {arch!r} "
                             f"(known: {', '.join(ARCH_FAMILY)})")
        return ARCH_FAMILY[arch]
    if "ft" in config or str(config.get("model", "")).startswith("transformer:"):
        return "transformer"
    raise ValueError(f"config.json names no known model family (model={config.get('model')!r}, "
                     f"keys: {sorted(config)})")


@cache
def _registry_run_names() -> dict[str, str]:
    """{run name the registry gives (seed 0, either target): experiment name}."""
    names: dict[str, str] = {e.run_name: n for n, e in EXPERIMENTS.items()}
    for n, e in EXPERIMENTS.items():
        try:
            other = with_overrides(e, {"target": "multi" if e.target == "single" else "single"})
        except ValueError:  # a single-label-only label set (DAIR)
            continue
        names.setdefault(other.run_name, n)
    return names


def _tuned_about(exp: Experiment | None, settings: dict) -> str:
    """A tuned run's settings that differ from its experiment's registered ones, in short."""
    if exp is None:
        return "tuned (its config names no experiment)"
    base = jsonable(exp.settings())
    changed = [f"{k.split('.')[-1]}={f'{v:.3g}' if isinstance(v, float) else v}" for k, v in settings.items()
               if k not in RUNTIME and k != "target" and base.get(k) != v]
    return f"tuned {exp.name}: " + (", ".join(changed) if changed else "the registered settings")


def _row(run: Run) -> dict:
    config, recorded = run.config, run.config.get("experiment", {})
    # the registry experiment the run came from: the one its config names, else the one with its run name
    name = recorded.get("name") or _registry_run_names().get(re.sub(r"_seed\d+$", "", run.name))
    exp, tuned = EXPERIMENTS.get(name) if name else None, run.name.startswith("tuned_")
    if exp is None and not tuned and config.get("model") != ENSEMBLE:
        raise ValueError(f"no registered experiment has run name {run.name!r} and its config names none "
                         "(experiments.EXPERIMENTS)")
    settings = recorded.get("settings")  # not recorded: its registry experiment's (full profile)
    settings = settings if settings is not None else jsonable(exp.settings()) if exp is not None else {}
    members = ", ".join(f"{m} {w:.2f}" for m, w in config.get("members", {}).items())
    about = _tuned_about(exp, settings) if tuned else exp.about if exp else f"ensemble chosen on dev: {members}"
    s_per_epoch, minutes, time_source = tables.train_time(run.history, run.config)
    seeds = (recorded.get("settings", {}).get("train.seed"), config.get("train_config", {}).get("seed"),
             config.get("ft", {}).get("seed"), config.get("seed"))  # as the run's config records it
    n_parameters = config.get("n_parameters", config.get("result", {}).get("total_params"))  # None: TF-IDF
    return {"run": run.name, "family": _family(config), "dataset": DATASETS[label_set(config.get("labels")).name],
            "target": config.get("target", "single"), "tuned": tuned, "experiment": exp.name if exp else None,
            "about": about,
            "train_rows": settings.get("train_rows"), "augment": bool(settings.get("augment", False)),
            "seed": next((int(s) for s in seeds if s is not None), 0), "n_test": len(run.table("test")),
            "has_dev": run.dev_predictions is not None,
            "n_parameters": float("nan" if n_parameters is None else n_parameters),
            "epochs_run": len(run.history) if run.history is not None else 0,
            "s_per_epoch": s_per_epoch, "train_minutes": minutes, "time_source": time_source,
            "dev_macro_f1": run.metrics["dev"]["macro_f1"]}


def _read(folder: Path) -> Run:
    """``load_run`` of a run folder that must hold test predictions."""
    run = load_run(folder)
    if run.predictions is None:
        raise RunFolderError(folder, "test_predictions.csv.gz", "missing (every finished run stores its test "
                             "predictions)")
    return run


def catalog(runs_root: str | Path) -> pd.DataFrame:
    """One row per run folder of ``runs_root``: what it is, size, cost, dev macro-F1; ``attrs["skipped"]``: groups."""
    root = Path(runs_root)
    rows, inner = [], {}
    for folder in run_folders(root, nested=True):
        run = _read(folder)
        if folder.parent != root:
            inner.setdefault(folder.parent.name, []).append(folder.name)
            continue
        try:
            rows.append(_row(run))
        except ValueError as err:
            raise ValueError(f"{folder}: {err}") from None
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"{folder}: config.json or metrics.json lacks what a run records "
                             f"({type(err).__name__}: {err})") from None
    table = pd.DataFrame(rows, columns=list(_COLUMNS)).set_index("run").astype({"train_rows": "Int64"})
    table.attrs["skipped"] = {group: f"holds {len(runs)} run folders ({', '.join(runs)}), is none itself"
                              for group, runs in inner.items()}
    return table


_COLUMNS = ("run", "family", "dataset", "target", "tuned", "experiment", "about", "train_rows", "augment", "seed",
            "n_test", "has_dev", "n_parameters", "epochs_run", "s_per_epoch", "train_minutes", "time_source",
            "dev_macro_f1")


def multi_sibling(run: str) -> str:
    """The multi-label sibling's run name: ``<run>_multi`` or ``<x>_single`` -> ``<x>_multi``, seed suffix kept."""
    seed = re.search(r"_seed\d+$", run)
    base = run[: seed.start()] if seed else run
    return base.removesuffix("_single") + "_multi" + (seed.group() if seed else "")


def left_out_by(row: pd.Series) -> str | None:
    """The ``RULES`` entry that keeps a ``catalog`` row off the leaderboard (data set, train subset, seed), or None."""
    if row["dataset"] != "goemotions":
        return RULES["dataset"]
    if pd.notna(row["train_rows"]):
        return RULES["subset"].format(row["train_rows"])
    return RULES["seed"].format(row["seed"]) if row["seed"] != 0 else None


def selection(table: pd.DataFrame, include: Iterable[str] | None = None,
              exclude: Iterable[str] = (), target: str = "single") -> tuple[list[str], dict[str, str]]:
    """A ``catalog``'s leaderboard runs and ``{run: rule}`` of the rest (``RULES``); ``include``: exactly these.
    ``target="multi"``: the multi-label runs are the rows (every one, with or without a single-label sibling)."""
    exclude = set(exclude)
    if unknown := sorted((set(include or ()) | exclude) - set(table.index)):
        raise KeyError(f"no run {unknown} in the catalog (runs: {list(table.index)})")
    if check_target(target) == "multi":
        chosen = [n for n in (table.index if include is None else include) if table.loc[n, "target"] == "multi"
                  and n not in exclude and left_out_by(table.loc[n]) is None]
        return chosen, {n: left_out_by(table.loc[n]) or RULES["caller"] for n in table.index if n not in chosen}
    if include is not None:
        if multi := [n for n in include if table.loc[n, "target"] != "single"]:
            raise ValueError(f"include names multi-label runs {multi}: they are columns of their single-label sibling")
        chosen = [n for n in include if n not in exclude]
        return chosen, {n: RULES["caller"] for n in table.index if n not in chosen}
    chosen, excluded = [], {}
    for name, row in table.iterrows():
        if rule := left_out_by(row):
            excluded[name] = rule
        elif name in exclude:
            excluded[name] = RULES["caller"]
        elif row["target"] == "single":
            chosen.append(name)
    shown = {multi_sibling(n) for n in chosen}
    multi = table.index[(table["target"] == "multi") & ~table.index.isin(list(excluded))]
    excluded |= {name: RULES["multi"] for name in multi if name not in shown}
    return chosen, excluded


def load(runs_root: str | Path, names: Iterable[str]) -> dict[str, RunResult]:
    """``{name: RunResult}`` of run folders ``runs_root/<name>`` (``run_folders.load_result``)."""
    return {n: load_result(Path(runs_root) / n) for n in names}


def _scores(r: RunResult, metrics: Iterable[str], prefix: str, n_boot: int, seed: int) -> dict:
    """The run's test ``metrics`` with intervals: columns ``<prefix><metric>``, ``..._low``, ``..._high``."""
    ci = stats.run_intervals(r, n_boot, seed)
    return {k: v for m in metrics for k, v in ((f"{prefix}{m}", r.test[m]), (f"{prefix}{m}_low", ci[m]["low"]),
                                               (f"{prefix}{m}_high", ci[m]["high"]))}


def leaderboard(runs_root: str | Path, n_boot: int = 1000, seed: int = 0, include: Iterable[str] | None = None,
                exclude: Iterable[str] = (), target: str = "single") -> pd.DataFrame:
    """One row per GoEmotions single-label model (``selection``), best test macro-F1 first, with bootstrap 95%
    intervals and its multi-label sibling's scores (``multi_*``); ``target="multi"``: one row per multi-label model,
    test macro-F1 (with interval) and micro-F1. ``attrs["excluded"]``: ``{run: rule}``."""
    table = catalog(runs_root)
    names, excluded = selection(table, include, exclude, target)
    if not names:
        raise ValueError(f"{runs_root}: no run left for the leaderboard (excluded: {excluded})")
    results = load(runs_root, names)
    best = tables.best_on_dev(results, target)
    rows = []
    for name, r in results.items():
        row = {"model": name, **table.loc[name, ["family", "tuned", "about", "dev_macro_f1"]].to_dict(),
               "best_on_dev": name == best}
        row |= _scores(r, ("accuracy", "macro_f1") if target == "single" else ("macro_f1",), "test_", n_boot, seed)
        if target == "multi":
            row["test_micro_f1"] = r.test["micro_f1"]
        sibling = multi_sibling(name)
        if target == "single" and sibling in table.index and table.loc[sibling, "target"] == "multi":
            multi = load_result(Path(runs_root) / sibling)
            row |= {"multi_run": sibling, **_scores(multi, ("macro_f1",), "multi_", n_boot, seed)}
        rows.append(row)
    board = pd.DataFrame(rows).set_index("model").sort_values("test_macro_f1", ascending=False)
    board = board.reindex(columns=[*board.columns.drop(list(_MULTI), errors="ignore"), *_MULTI])
    board.attrs["excluded"] = excluded
    return board


_MULTI = ("multi_run", "multi_macro_f1", "multi_macro_f1_low", "multi_macro_f1_high")


def significance(results: Mapping[str, RunResult], best: str | None = None, baseline: str = BASELINE,
                 n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The ``best`` run (default: best dev macro-F1) against every other run: paired-bootstrap gains, p-values
    and their Benjamini-Hochberg adjustment (``*_p_bh``), McNemar's exact test (single-label)."""
    if baseline not in results:
        raise KeyError(f"baseline {baseline!r} is not among the runs {list(results)}")
    best = best or tables.best_on_dev(results)
    if best not in results:
        raise KeyError(f"best {best!r} is not among the runs {list(results)}")
    rows = []
    for name, other in results.items():
        if name == best:
            continue
        row = {"other": name, "best": best, "baseline": name == baseline}
        for metric, gains in stats.paired_gains(results[best], other, n_boot, seed).items():
            ci = stats.percentile_interval(gains[1:])
            row |= {f"{metric}_gain": gains[0], f"{metric}_low": ci["low"], f"{metric}_high": ci["high"],
                    f"{metric}_p": stats.bootstrap_p(gains[1:])}
        if other.target == "single":
            test = stats.mcnemar(results[best], other)
            row |= {"best_only": test["a_only"], "other_only": test["b_only"], "mcnemar_p": test["mcnemar_p"]}
        rows.append(row)
    if not rows:
        raise ValueError(f"significance needs a run besides {best!r}")
    table = pd.DataFrame(rows).set_index("other")
    for column in [c for c in table if c.endswith("_p")]:
        table[f"{column}_bh"] = stats.fdr(table[column].to_numpy())
    return table


def cost_quality(catalog: pd.DataFrame, leaderboard: pd.DataFrame, benchmarks: pd.DataFrame | None = None,
                 threads: int = 1, path: str = "fp32") -> pd.DataFrame:
    """Per leaderboard model: parameters, training time, inference speed (``benchmarks``, else NaN), test scores."""
    if missing := sorted(set(leaderboard.index) - set(catalog.index)):
        raise KeyError(f"leaderboard models {missing} are not in the catalog")
    speed = pd.Series(dtype=float)
    if benchmarks is not None and len(benchmarks):
        measured = benchmarks[(benchmarks["threads"] == threads) & (benchmarks["path"] == path)]
        speed = measured.groupby("run")["sentences_per_s"].mean()
    out = catalog.loc[leaderboard.index, ["family", "n_parameters", "s_per_epoch", "train_minutes"]]
    sentences_per_s = speed.reindex(leaderboard.index).to_numpy(float)
    out = out.assign(sentences_per_s=sentences_per_s, ms_per_sentence=1000 / sentences_per_s,
                     test_accuracy=leaderboard["test_accuracy"], test_macro_f1=leaderboard["test_macro_f1"])
    return out.rename_axis("model")


def pareto_front(df: pd.DataFrame, cost_col: str, quality_col: str) -> pd.Series:
    """True for the rows no other row dominates; rows missing either value are never on it."""
    if missing := [c for c in (cost_col, quality_col) if c not in df]:
        raise KeyError(f"no column {missing[0]!r} (columns: {list(df.columns)})")
    cost, quality = df[cost_col].to_numpy(float), df[quality_col].to_numpy(float)
    known = ~(np.isnan(cost) | np.isnan(quality))
    no_worse = (cost[None, :] <= cost[:, None]) & (quality[None, :] >= quality[:, None])
    better = (cost[None, :] < cost[:, None]) | (quality[None, :] > quality[:, None])
    dominated = (no_worse & better & known[None, :]).any(axis=1)
    return pd.Series(known & ~dominated, index=df.index, name="pareto")


def cross_domain_table(runs_root: str | Path) -> pd.DataFrame:
    """``cross_domain.scores_table`` of every evaluation stored under ``runs_root``; others in ``attrs["skipped"]``."""
    root = Path(runs_root)
    frames, skipped = [], {}
    for folder in run_folders(root, nested=True):
        run, name = load_run(folder), folder.relative_to(root).as_posix()
        for evaluation, report in sorted(run.evaluations.items()):
            try:
                scores = cross_domain.scores_table({name: report})
            except ValueError as err:  # a report of another kind
                skipped[f"{name}/{EVALUATIONS}/{evaluation}.json"] = str(err)
                continue
            trained_on = DATASETS[label_set(run.config.get("labels")).name]
            frames.append(scores.assign(evaluation=evaluation, trained_on=trained_on))
    columns = ["evaluation", "trained_on"]
    table = pd.concat(frames) if frames else pd.DataFrame(columns=["model", *columns]).set_index("model")
    table = table[[*columns, *[c for c in table if c not in columns]]]
    table.attrs["skipped"] = skipped
    return table


def training_curves(runs_root: str | Path, runs: Iterable[str]) -> pd.DataFrame:
    """Long table of dev macro-F1 per epoch against cumulative training ``seconds``; ``attrs["skipped"]``."""
    frames, skipped = [], {}
    for name in runs:
        run = _read(Path(runs_root) / name)
        history = run.history
        if history is None or not {"epoch", "dev_macro_f1"} <= set(history):
            skipped[name] = "no per-epoch history with dev_macro_f1"
            continue
        _, minutes, source = tables.train_time(run.history, run.config)
        if source == "history":
            seconds = history["train_seconds"].cumsum().to_numpy(float)
        else:
            seconds = minutes * 60 * np.arange(1, len(history) + 1) / len(history)
        frames.append(pd.DataFrame({"run": name, "epoch": history["epoch"], "dev_macro_f1": history["dev_macro_f1"],
                                    "seconds": seconds, "time_source": source}))
    columns = ["run", "epoch", "dev_macro_f1", "seconds", "time_source"]
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    curves.attrs["skipped"] = skipped
    return curves


def comparison_figures(runs_root: str | Path, board: pd.DataFrame, images: str | Path, prefix: str = "08",
                       references: Mapping[str, Mapping[str, float]] | None = None,
                       benchmarks: pd.DataFrame | None = None) -> dict[str, Path]:
    """The comparison figures of the leaderboard's models as ``images/<prefix>_*.png``; returns ``{figure: path}``."""
    images = Path(images)
    images.mkdir(parents=True, exist_ok=True)
    results = load(runs_root, board.index)
    paths = {k: images / f"{prefix}_{k}.png" for k in ("leaderboard", "per_class_f1", "confusions", "curves",
                                                          "cost_quality")}
    figures.leaderboard_figure(board, reference_results.lines() if references is None else references,
                             path=paths["leaderboard"])
    figures.per_class_heatmap(tables.per_class_f1(list(results.values())).T, path=paths["per_class_f1"])
    figures.confusion_grid({n: r.test["confusion_matrix"] for n, r in results.items()}, EKMAN_LABELS,
                         path=paths["confusions"], ncols=4)
    figures.curves_overlay(training_curves(runs_root, board.index), path=paths["curves"])
    cost = cost_quality(catalog(runs_root), board, benchmarks)
    costs = list(figures.COST_LABELS)
    figures.cost_quality_figure(cost, costs, fronts={c: pareto_front(cost, c, "test_macro_f1") for c in costs},
                              title="Cost vs test macro-F1", path=paths["cost_quality"])
    plt.close("all")
    return paths

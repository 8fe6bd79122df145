"""The README's generated sections besides the results table, each written from committed artifacts only (run
folders, ``benchmarks/results/*.json``, the executed notebooks' headlines, the reference results of
``src_helpers.evaluation.references``). ``report.main`` puts each one between
its ``<!-- <name>:start -->`` / ``<!-- <name>:end -->`` markers (``sections`` gives ``{name: Markdown}``).

Conclusions in the text are computed as well: a change whose paired-bootstrap 95% interval contains 0 is "not a
clear" gain or loss, "faster" or "slower" follows the measured ratio, a Welch t-test over seeds says whether a cost
is significant. So the prose stays true whatever the numbers are. Bootstraps use a fixed seed: the same artifacts
always give the same text.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ttest_ind

from src_helpers.config import REPO_ROOT
from src_helpers.data.textio import read_json
from src_helpers.evaluation import comparison, references, tables
from src_helpers.evaluation.metrics import choose_best
from src_helpers.evaluation.results import RunResult
from src_helpers.experiments.run_folders import load_result, run_folders

# The augmentation ablation: run -> what it is; its augmented twin is ``<run>_aug``.
AUGMENTED = {"tfidf_single": "TF-IDF + LR, C chosen on dev", "bigru_minilm": "MiniLM BiGRU of notebook 03"}
EMBEDDINGS = ("bigru_minilm", "bigru_random")  # the same BiGRU: MiniLM vs random initial embeddings
# Notebook 03's speed variants of the 2x256 BiLSTM (seed 0; ``_seed<n>`` folders repeat them), baseline first.
SPEED = {"bilstm2_fp32_padded": "fp32, bucketed, padded + packed", "bilstm2_fp32_exact": "fp32, exact-length batches",
         "bilstm2_bf16_padded": "bf16 autocast, bucketed", "bilstm2_bf16_exact": "bf16 autocast, exact-length batches"}
SPEED_OPTIONS = {"bilstm2_fp32_exact": "exact-length batches alone", "bilstm2_bf16_padded": "bf16 alone",
                 "bilstm2_bf16_exact": "both together"}
BUDGET_EXAMPLES, BUDGET_SECONDS = 36000, 60  # a speed budget: an epoch of 36,000 examples in at most 60 s
TRAIN_SPEED = "train_speed_lstm_2t.json"
EMULATION = {"native": "train_speed_lstm_2t_8k_native_bf16.json", "AVX2": "train_speed_lstm_2t_8k_onednn_avx2.json"}
CUDA = "train_speed_cuda_h100.json"
NEWCOMER = "newcomer.json"  # benchmarks/newcomer.py: the two README commands on a fresh clone
TUNING = "tuning_rnn.json"  # benchmarks/tuning_throughput.py --family rnn
INFERENCE = "transformer_minilm_ep5_multi"  # run of the inference table (benchmarks/inference.py)
MODES = {"naive": "naive: random, padded to {max_length} tokens",
         "bucketed": "bucketed: similar lengths, padded to the batch's longest, packed",
         "exact": "exact: one length per batch, no padding, dense kernels"}
OPTIONS = {"naive": "naive batches", "bucketed": "bucketed batches", "exact": "`exact_lengths=True`"}
EPOCH = "epoch_s (43,410 ex)"
WIDTH = 110  # prose lines are wrapped to this width, as the README's own
BENCHMARKS = REPO_ROOT / "benchmarks" / "results"  # the committed reports of benchmarks/*.py
LESSONS = {  # notebook -> what a reader learns there (the notebook map of the README)
    "01_data_preprocessing": "the data: Ekman grouping, class balance, label co-occurrence, TextAttack augmentation",
    "02_baseline_tfidf": "a strong classic baseline: TF-IDF word + character n-grams and logistic regression",
    "03_rnn_lstm_gru": "recurrent networks: the model, the training loop, LSTM vs GRU, embeddings, speed options",
    "04_xlstm_rwkv": "newer recurrent blocks: xLSTM (mLSTM + sLSTM) and RWKV, trained from scratch",
    "05_transformers": "fine-tuning a transformer with Hugging Face Trainer; other checkpoints and LoRA",
    "06_optuna_studies": "hyper-parameter search with Optuna: objective, sampler, pruner, a second stage",
    "07_dair_emotion": "a second data set (DAIR.AI tweets): in-domain training and transfer across domains",
    "08_comparison": "comparing models honestly: intervals, paired tests, calibration, ensembles, errors",
    "09_demo": "the model behind a web page (Gradio): what it serves, the CSV, what bad input gets",
}


# ------------------------------------------------------------------------------------------ formatting
def signed(value: float, digits: int = 4) -> str:
    """``+0.0106``, ``−0.0095`` (a minus sign), ``±0`` when it rounds to zero."""
    text = f"{abs(value):.{digits}f}"
    return "±0" if float(text) == 0 else f"{'+' if value > 0 else '−'}{text}"


def signed_interval(low: float, high: float, value: float, digits: int = 4) -> str:
    """A difference and its 95% interval, each signed: ``+0.0011 [−0.0123, +0.0045]``."""
    return f"{signed(value, digits)} [{signed(low, digits)}, {signed(high, digits)}]"


def points(value: float) -> str:
    """A score difference in percentage points, one decimal, signed."""
    return signed(100 * value, 1)


def times(ratio: float, more: str = "faster", less: str = "slower") -> str:
    """``2× faster`` for a ratio of old to new seconds of 2, ``1.3× slower`` for 0.77."""
    return f"{ratio:.3g}× {more}" if ratio >= 1 else f"{1 / ratio:.3g}× {less}"


def span(values: np.ndarray | pd.Series, digits: int = 2) -> str:
    """``low–high`` of ``values`` to ``digits`` significant digits (one value when both round alike)."""
    low, high = (f"{v:.{digits}g}" for v in (np.min(values), np.max(values)))
    return low if low == high else f"{low}–{high}"


def verdict(low: float, high: float, value: float) -> str:
    """What a 95% interval of a difference says: a clear gain or loss, or not a clear one (it contains 0)."""
    if low > 0 or high < 0:
        return f"a clear {'gain' if low > 0 else 'loss'} (the interval excludes 0)"
    return f"not a clear {'gain' if value >= 0 else 'loss'} (the interval contains 0)"


def _benchmark(folder: Path, name: str) -> dict:
    path = folder / name
    report = read_json(path)
    if not isinstance(report, dict) or not {"rows", "results", "generation"} & set(report):
        raise ValueError(f"{path}: not a benchmark report (no rows, results or generation)")
    return report


def _epochs(folder: Path, name: str) -> pd.DataFrame:
    """A training-speed benchmark's rows (model, mode, precision, epoch seconds scaled to the train split)."""
    report = _benchmark(folder, name)
    rows = pd.DataFrame(report["rows"])
    if EPOCH not in rows:
        raise ValueError(f"{folder / name}: its rows have no {EPOCH!r} column")
    return rows.assign(setup=[report["setup"]] * len(rows))


# ------------------------------------------------------------------------------------------ run sections
def augmentation(results: Mapping[str, RunResult], n_boot: int = 1000, seed: int = 0) -> str:
    """The augmentation ablation: each model of ``AUGMENTED`` against its ``_aug`` twin, dev and test changes with
    paired-bootstrap intervals on test, the test F1 change per class, and what the intervals and dev say."""
    classes = list(results[next(iter(AUGMENTED))].test["per_class"])
    lines = ["Ablation, single-label: each model trained on the original and on the augmented train split (run "
             "folders `<run>` and `<run>_aug`). Changes are augmented − original; test changes carry paired-bootstrap "
             f"95% intervals ({n_boot} resamples); the class columns give the change of test F1.", "",
             f"| model | dev macro-F1 | test accuracy | test macro-F1 | {' | '.join(classes)} |",
             f"| --- | --- | --- | --- | {' | '.join(['---'] * len(classes))} |"]
    notes = []
    for run, about in AUGMENTED.items():
        base, aug = results[run], results[f"{run}_aug"]
        gains = tables.paired_bootstrap(aug, base, n_boot=n_boot, seed=seed)
        per_class = [signed(aug.test["per_class"][c]["f1"] - base.test["per_class"][c]["f1"], 3) for c in classes]
        cells = [f"{base.dev['macro_f1']:.4f} → {aug.dev['macro_f1']:.4f}"]
        for m in ("accuracy", "macro_f1"):
            gain = gains.loc[f"{m} gain"]
            interval = signed_interval(gain["low"], gain["high"], gain["value"])
            cells.append(f"{base.test[m]:.4f} → {aug.test[m]:.4f}, {interval}")
        lines.append(f"| {about} (`{run}`) | {' | '.join(cells + per_class)} |")
        mf1 = gains.loc["macro_f1 gain"]
        notes.append(f"{about}: augmentation changes test macro-F1 by {signed(mf1['value'])}, "
                     f"{verdict(mf1['low'], mf1['high'], mf1['value'])}, and dev macro-F1 by "
                     f"{signed(aug.dev['macro_f1'] - base.dev['macro_f1'])}.")
    rnn, rnn_aug = results["bigru_minilm"], results["bigru_minilm_aug"]
    better = rnn.dev["macro_f1"] >= rnn_aug.dev["macro_f1"]
    notes.append("The RNN runs train on the original split, " + (
        "which gives the BiGRU the better dev macro-F1." if better else
        "although the augmented one gives the BiGRU the better dev macro-F1."))
    return "\n".join([*lines, "", *notes]) + "\n"


def embeddings(results: Mapping[str, RunResult], n_boot: int = 1000, seed: int = 0) -> str:
    """MiniLM against random initial embeddings of the same BiGRU: dev changes, and the test macro-F1 change with
    its paired-bootstrap interval."""
    minilm, random = (results[n] for n in EMBEDDINGS)
    acc, mf1 = (minilm.dev[m] - random.dev[m] for m in ("accuracy", "macro_f1"))
    test = tables.paired_bootstrap(minilm, random, n_boot=n_boot, seed=seed).loc["macro_f1 gain"]
    helps = "helps" if acc > 0 and mf1 > 0 else "does not clearly help" if acc > 0 or mf1 > 0 else "does not help"
    return (f"Initialising from MiniLM embeddings {helps} on dev: against random initialisation (`{EMBEDDINGS[1]}`), "
            f"the same BiGRU (`{EMBEDDINGS[0]}`) changes dev accuracy by {points(acc)} points and dev macro-F1 by "
            f"{points(mf1)}. On test its macro-F1 changes by {points(test['value'])} points (paired-bootstrap 95% "
            f"interval {points(test['low'])} to {points(test['high'])}): "
            f"{verdict(test['low'], test['high'], test['value'])}.\n")


def speed_runs(runs_root: str | Path) -> list[str]:
    """The run folders of ``SPEED``'s variants and their seed repeats, in ``SPEED`` order."""
    names = [p.name for p in run_folders(runs_root)]
    found = [n for v in SPEED for n in names if re.fullmatch(rf"{v}(_seed\d+)?", n)]
    if missing := [v for v in SPEED if v not in found]:
        raise FileNotFoundError(f"{runs_root}: no run folder {missing} (notebook 03, speed_ablation=True)")
    return found


def _seeds(names: pd.Index) -> pd.Series:
    return pd.Series([int(m.group(1)) if (m := re.search(r"_seed(\d+)$", n)) else 0 for n in names], index=names)


def speed(results: Mapping[str, RunResult], train_rows: int) -> str:
    """Notebook 03's speed variants: mean ± sd over seeds of seconds per epoch (each run's median epoch
    ``train_seconds``; an epoch is the ``train_rows`` of the train split) and scores, then the speed-up, the dev
    spread and the test cost, each computed."""
    cost = tables.cost_table(results)
    cost["variant"] = cost.index.str.replace(r"_seed\d+$", "", regex=True)
    seeds = _seeds(cost.index).groupby(cost["variant"]).apply(sorted)
    everyone = sorted(set(_seeds(cost.index)))
    columns = {"s_per_epoch": 0, "dev_macro_f1": 3, "test_accuracy": 3, "test_macro_f1": 3}
    mean, sd = (cost.groupby("variant")[list(columns)].agg(f) for f in ("mean", "std"))
    fastest = mean["s_per_epoch"].idxmin()
    each = "each" if all(s == everyone for s in seeds) else "at most"
    lines = [f"Notebook 03 trains this model {len(SPEED)} ways on the full data, with {len(everyone)} seeds {each}, to "
             "show what the speed costs (seconds per epoch: each run's median epoch, `train_seconds` in its "
             "`history.csv`):",
             "",
             "| 2×256 BiLSTM, word vocabulary, random embeddings (mean ± sd over seeds "
             f"{', '.join(map(str, everyone))}) | s per epoch | dev macro-F1 | test accuracy | test macro-F1 |",
             "| --- | --- | --- | --- | --- |"]
    for variant, about in SPEED.items():
        own = "" if seeds[variant] == everyone else f" (seeds {', '.join(map(str, seeds[variant]))})"
        cells = [f"{mean.loc[variant, c]:.{d}f} ± {sd.loc[variant, c]:.{d}f}" for c, d in columns.items()]
        if variant == fastest:
            cells[0] = f"**{cells[0]}**"
        lines.append(f"| {about}{own} | {' | '.join(cells)} |")
    base, both = next(iter(SPEED)), "bilstm2_bf16_exact"
    per_budget = mean.loc[both, "s_per_epoch"] * BUDGET_EXAMPLES / train_rows
    ratio = mean.loc[base, "s_per_epoch"] / mean.loc[both, "s_per_epoch"]
    lines += ["", f"* **Speed:** both options together train {times(ratio)} than the fp32 baseline (mean seconds "
              f"per epoch over {train_rows:,} examples). That is {per_budget:.0f} s per {BUDGET_EXAMPLES:,} "
              "examples inside the real training loop, with tokenization, batching and tqdm included."]
    low, high = mean.loc[base, "dev_macro_f1"] - sd.loc[base, "dev_macro_f1"], \
        mean.loc[base, "dev_macro_f1"] + sd.loc[base, "dev_macro_f1"]
    outside = [SPEED[v] for v in SPEED if v != base and not low <= mean.loc[v, "dev_macro_f1"] <= high]
    where = "every variant's mean is within" if not outside else f"outside it: {'; '.join(outside)}; the others within"
    lines.append(f"* **Dev:** against the spread between seeds of the fp32 baseline (its mean ± sd, {low:.3f} to "
                 f"{high:.3f}), {where}." if outside else f"* **Dev:** {where} the spread between seeds of the fp32 "
                 f"baseline (its mean ± sd, {low:.3f} to {high:.3f}).")
    changes, tests = [], {}
    for variant, option in SPEED_OPTIONS.items():
        parts = []
        for metric in ("test_accuracy", "test_macro_f1"):
            a, b = (cost.loc[cost["variant"] == v, metric].to_numpy() for v in (variant, base))
            name = f"{option.split()[0]} {'accuracy' if metric == 'test_accuracy' else 'macro-F1'}"
            tests[name] = ttest_ind(a, b, equal_var=False).pvalue if min(len(a), len(b)) > 1 else np.nan
            parts.append(points(mean.loc[variant, metric] - mean.loc[base, metric]))
        changes.append(f"{parts[0]} and {parts[1]} points with {option}")
    significant = [f"{n}, p = {p:.2g}" for n, p in tests.items() if p < 0.05]
    found = f"{len(significant)} ({'; '.join(significant)})" if significant else "none"
    lines.append(f"* **Test:** against the fp32 baseline (means over seeds), test accuracy and macro-F1 change by "
                 f"{'; '.join(changes)}. Welch's t-test over seeds finds {found} of these {len(tests)} "
                 f"differences significant at the 5% level (p = {span(list(tests.values()))}).")
    return "\n".join(lines) + "\n"


def dair(runs_root: Path, n_boot: int = 1000, seed: int = 0) -> str:
    """Notebook 07's runs on DAIR.AI emotion: in-domain scores (val chooses; test with bootstrap intervals), the
    val-chosen MiniLM against the DAIR reference results (``references.load("dair")``), then the cross-domain
    evaluations stored in the run folders."""
    table = comparison.catalog(runs_root)
    names = list(table.index[table["dataset"] == "dair"])
    if not names:
        raise FileNotFoundError(f"{runs_root}: no DAIR run folder (notebook 07)")
    board = comparison.leaderboard(runs_root, n_boot=n_boot, seed=seed, include=names)
    lines = ["In-domain: trained on DAIR's train split, chosen on its val split, tested once "
             f"({int(table.loc[names[0], 'n_test']):,} test tweets; bootstrap 95% intervals in brackets; bold: the run "
             "val chooses).", "",
             "| run | what | val macro-F1 | test accuracy | test macro-F1 |", "| --- | --- | --- | --- | --- |"]
    for name, row in board.sort_values("dev_macro_f1", ascending=False).iterrows():
        cells = [tables.interval_text(row[f"{m}_low"], row[f"{m}_high"], row[m], ci_digits=3)
                 for m in ("test_accuracy", "test_macro_f1")]
        lines.append(f"| {f'**{name}**' if row['best_on_dev'] else f'`{name}`'} | {row['about']} | "
                     f"{row['dev_macro_f1']:.4f} | {' | '.join(cells)} |")
    minilm = board[board["family"] == "transformer"]
    if len(minilm):
        chosen = choose_best(minilm["dev_macro_f1"].to_dict(), "val macro-F1")
        acc = minilm.loc[chosen, "test_accuracy"]
        shown = references.load("dair", "test_accuracy")
        against = "; ".join(f"{who} {value:.2%}: {'above' if acc > value else 'below'}"
                            for who, value in shown["value"].items())
        lines += ["", f"The MiniLM run val chooses, `{chosen}`, has test accuracy {acc:.2%}"
                  + (f" (reference results: {against})." if against else ".")]
    cross = comparison.cross_domain_table(runs_root)
    if len(cross):
        lines += ["", "Across data sets (argmax over the five shared classes, love → joy; the 7-way columns: a "
                  "GoEmotions model's plain argmax, where neutral or disgust counts as wrong):", "",
                  "| run | trained on → scored on | rows | accuracy | macro-F1 | 7-way accuracy | predicted neutral or "
                  "disgust |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for name, row in cross.iterrows():
            seven = [f"{row[c]:.4f}" if pd.notna(row.get(c)) else "–" for c in ("accuracy_7way", "predicted_outside")]
            target = "goemotions" if row["trained_on"] == "dair" else "dair"
            lines.append(f"| `{name}` | {row['trained_on']} → {target} test | {int(row['n']):,} | "
                         f"{row['accuracy_shared']:.4f} | {row['macro_f1_shared']:.4f} | {' | '.join(seven)} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ benchmark sections
def train_speed(benchmarks: Path) -> str:
    """``benchmarks/train_speed.py`` on the full train split: seconds per epoch by batching and precision, and
    what the fastest setting gives against naive fp32 padding and the speed budget (``BUDGET_SECONDS``)."""
    rows = _epochs(benchmarks, TRAIN_SPEED)
    table = rows.pivot_table(index="mode", columns="precision", values=EPOCH).reindex(list(MODES))
    best = table.stack().idxmin()
    lines = ["| batches | fp32 | bf16 autocast |", "| --- | --- | --- |"]
    for mode, row in table.iterrows():
        cells = [f"{row[p]:,.0f} s" if (mode, p) != best else f"**{row[p]:,.0f} s**" for p in ("fp32", "bf16")]
        lines.append(f"| {MODES[mode].format(**rows['setup'][0])} | {' | '.join(cells)} |")
    seconds = table.loc[best]
    per_budget = seconds * BUDGET_EXAMPLES / rows["setup"][0]["n"]
    met = "met" if per_budget <= BUDGET_SECONDS else "missed"
    setting = f"{OPTIONS[best[0]]} with `precision=\"{best[1]}\"`"
    lines += ["", f"So {setting} trains an epoch {times(table.loc['naive', 'fp32'] / seconds)} than "
              f"naive fp32 padding: {seconds:.0f} s per {rows['setup'][0]['n']:,} examples, i.e. {per_budget:.0f} s "
              f"per {BUDGET_EXAMPLES:,} (budget ≤ {BUDGET_SECONDS} s: {met}). Timings on this shared VM vary between "
              "runs; the table over seeds below shows the spread."]
    return "\n".join(lines) + "\n"


def bf16_emulation(benchmarks: Path) -> str:
    """Seconds per epoch with native bf16 and with oneDNN capped at AVX2 (bf16 emulated), and how much slower
    bf16 autocast is than fp32 without bf16 hardware."""
    native, avx2 = (_epochs(benchmarks, EMULATION[k]) for k in ("native", "AVX2"))
    flags = ", ".join(native["setup"][0].get("cpu_bf16_flags") or ["no bf16 flags"]).upper().replace("_", "-")
    fallback = not avx2["setup"][0].get("bf16_lstm_kernel", True)
    t = {k: df.pivot_table(index="mode", columns="precision", values=EPOCH) for k, df in (("n", native), ("a", avx2))}
    modes = [m for m in ("bucketed", "exact") if m in t["n"].index]
    best = t["n"].loc[modes, "bf16"].idxmin()
    lines = [f"| batches | fp32, native | bf16, native ({flags}) | fp32, oneDNN at AVX2 | bf16, oneDNN at AVX2 |",
             "| --- | --- | --- | --- | --- |"]
    for mode in modes:
        label = "bucketed (padded + packed)" if mode == "bucketed" else "exact-length (dense)"
        native_bf16 = f"{t['n'].loc[mode, 'bf16']:,.0f} s"
        cells = [f"{t['n'].loc[mode, 'fp32']:,.0f} s", f"**{native_bf16}**" if mode == best else native_bf16,
                 f"{t['a'].loc[mode, 'fp32']:,.0f} s",
                 f"{t['a'].loc[mode, 'bf16']:,.0f} s" + (" (LSTM in fp32)" if fallback and mode == "exact" else "")]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    ratio = t["a"].loc[modes, "bf16"] / t["a"].loc[modes, "fp32"]
    advice = ': use `precision="fp32"` there' if ratio.min() > 1 else ""
    slower = "slower" if ratio.min() > 1 else "as fast as or faster"
    lines += ["", f"So without bf16 hardware, bf16 autocast is {span(ratio)}× {slower} than fp32{advice}. "
              "(A real AVX2-only CPU also lacks AVX512 for the rest of PyTorch, so its absolute times differ; the "
              "emulation checks correctness and the direction of the effect.)"]
    return "\n".join(lines) + "\n"


def cuda_speed(benchmarks: Path) -> str:
    """The GPU benchmark: the range of epoch seconds, the spread between two leases of one card (models timed on
    both), what exact-length batches do for LSTM/GRU and how often bf16 is slower than fp32."""
    rows = _epochs(benchmarks, CUDA)
    setup = rows["setup"][0]
    key = ["model", "mode", "precision"]
    machines = sorted(rows["machine"].unique())
    lease = rows.pivot_table(index=key, columns="machine", values=EPOCH).dropna()
    first = rows[rows["machine"] == machines[0]].set_index(key)[EPOCH]
    wide = rows.pivot_table(index=["machine", "model", "mode"], columns="precision", values=EPOCH)
    slower = int((wide["bf16"] > wide["fp32"]).sum())
    rnn = [m for m in ("lstm", "gru") if (m, "naive", "fp32") in first.index]
    helps = all(first[(m, "exact", "fp32")] < first[(m, "naive", "fp32")] for m in rnn)
    shown = ", ".join(f"{m.upper()} {first[(m, 'naive', 'fp32')]:.1f} s naive → {first[(m, 'exact', 'fp32')]:.1f} s "
                      "exact" for m in rnn)
    text = (f"On an {setup.get('gpu', 'GPU')} (`--device cuda`, `benchmarks/results/{CUDA}`), an epoch of any of the "
            f"{rows['model'].nunique()} models takes {span(rows[EPOCH])} s")
    if len(machines) > 1 and len(lease):
        ratio = lease[machines[1]] / lease[machines[0]]
        text += f"; two leases of the same card differed by {span(ratio)}× ({len(lease)} settings timed on both)"
    text += (". At these sizes per-step overhead dominates. Exact-length batches "
             f"{'still help' if helps else 'do not help'} LSTM/GRU ({shown}, fp32), and bf16 is slower than fp32 "
             f"in {slower} of {len(wide)} (lease, model, batching) settings.")
    return text + "\n"


def inference(benchmarks: Path) -> str:
    """``benchmarks/inference.py`` on the fine-tuned MiniLM (run ``INFERENCE``): a row per runtime and thread count
    from its reports (one per thread count), unrounded from them."""
    rows = tables.inference_benchmarks(benchmarks)
    rows = rows[rows["run"] == INFERENCE] if len(rows) else rows
    if not len(rows):
        raise FileNotFoundError(f"{benchmarks}: no inference_*.json of run {INFERENCE!r} "
                                "(python benchmarks/inference.py)")
    names = {"fp32": "PyTorch fp32", "int8_dynamic": "PyTorch int8 (dynamic, `--quantized`)",
             "onnx_fp32": "ONNX Runtime fp32", "onnx_int8": "ONNX Runtime int8 (dynamic; predict's default)"}
    columns = {"sentences_per_s": "sentences/s", "sentences_per_s_model": "sentences/s (model only)",
               "p50_latency_ms": "batch-1 p50 (ms)", "size_mb": "size (MB)", "accuracy": "test accuracy",
               "macro_f1": "test macro-F1", "micro_f1": "test micro-F1"}
    order = {path: i for i, path in enumerate(names)}
    rows = rows.assign(order=rows["path"].map(lambda p: order.get(p, len(order)))).sort_values(["order", "threads"])
    shown = [c for c in columns if c in rows and rows[c].notna().any()]
    lines = ["| runtime | threads | " + " | ".join(columns[c] for c in shown) + " |",
             "| --- | --- | " + " | ".join(["---"] * len(shown)) + " |"]
    for _, r in rows.iterrows():
        cells = ["–" if pd.isna(r[c]) else f"{r[c]:.{4 if 'f1' in c or c == 'accuracy' else 1}f}" for c in shown]
        lines.append(f"| {names.get(r['path'], r['path'])} | {r['threads']} | " + " | ".join(cells) + " |")
    threads = sorted(set(rows["threads"]))
    files = ", ".join(f"`benchmarks/results/inference_{INFERENCE}_{t}t.json`" for t in threads)
    setup = _benchmark(benchmarks, f"inference_{INFERENCE}_{threads[-1]}t.json").get("machine", {})
    cpu = f" of an {setup['cpu']} ({', '.join(setup['flags']) or 'no AVX2'})" if setup.get("cpu") else ""
    text = (f"The fine-tuned MiniLM (`{INFERENCE}`) on the whole test split in batches of texts sorted by length, on "
            f"{' and '.join(map(str, threads))} CPU threads{cpu} ({files}). Sentences/s and the batch-1 latency "
            "include tokenization" + ("; model only: the same batches tokenized beforehand" if "sentences_per_s_model"
                                      in shown else "") + ".\n\n" + "\n".join(lines) + "\n")
    others = tables.inference_benchmarks(benchmarks)
    measured = others.get("sentences_per_s_model", pd.Series(float("nan"), index=others.index))
    others = others[(others["path"] == "fp32") & measured.isna() & ~others["run"].str.startswith("transformer")]
    if len(others):
        speeds = others.pivot_table(index="run", columns="threads", values="sentences_per_s")
        speeds = speeds.sort_values(speeds.columns[0], ascending=False)
        text += ("\nThe other families the same way (`benchmarks/inference_families.py`: PyTorch fp32 or "
                 "scikit-learn, texts in, probabilities out), sentences/s on " + " / ".join(
                     f"{t}" for t in speeds.columns) + " threads: " + ", ".join(
                     f"`{run}` {' / '.join('–' if pd.isna(v) else f'{v:.0f}' for v in row)}"
                     for run, row in speeds.iterrows())
                 + ".\n")
    return text


def tuning_throughput(benchmarks: Path) -> str:
    """``benchmarks/tuning_throughput.py``: trials per hour of one study with 1 and 2 worker processes and the
    scaling between them, with the setup they ran under."""
    report = _benchmark(benchmarks, TUNING)
    setup, rows = report["setup"], {r["workers"]: r for r in report["results"]}
    if not {1, 2} <= set(rows):
        raise ValueError(f"{benchmarks / TUNING}: results for 1 and 2 workers needed, found {sorted(rows)}")
    one, two = rows[1], rows[2]
    cells = [f"{r['workers']} worker{'s' if r['workers'] > 1 else ''}: {r['trials_per_hour']:.0f} trials/h "
             f"({r['finished_trials']} trials, {r['pruned']} pruned, in {r['seconds']:.0f} s)" for r in (one, two)]
    return (f"Measured (`benchmarks/results/{TUNING}`, {setup['date']}, {setup['cpu_count']} cores, one thread per "
            f"worker; {setup['family']} study on a {setup['train_rows']:,}-row subset × {setup['epochs']} epochs): "
            f"{'; '.join(cells)}. Two workers run {two['trials_per_hour'] / one['trials_per_hour']:.2f}× the trials "
            "per hour of one; pruned trials are short, so the ratio also depends on how many each run pruned.\n")


def augmentation_cost(benchmarks: Path, headline: Mapping[str, float]) -> str:
    """Caching and speed of the augmentation (``benchmarks/augment.py``'s latest report) and the train split's
    size before and after (notebook 01's headline ``n_train``, ``n_train_aug``)."""
    reports = sorted(benchmarks.glob("augment_*.json"))
    if not reports:
        raise FileNotFoundError(f"{benchmarks}: no augment_*.json (python benchmarks/augment.py --full)")
    report = _benchmark(benchmarks, reports[-1].name)
    one = next(g for g in report["generation"] if g["workers"] == 1)
    if missing := [k for k in ("n_train", "n_train_aug") if k not in headline]:
        raise KeyError(f"notebook 01's headline has no {missing} (run notebook 01 with augment=True)")
    return (f"* Results are deterministic for a seed and cached as parquet in `.cache/augment/`. A first run on a "
            f"{report['subset_rows']:,}-row subset took {report['subset_first_run_s']:.0f} s, a cached re-run of the "
            f"full train split {report['full_cached_run_s']:.1f} s (`benchmarks/results/{reports[-1].name}`). On the "
            f"real train split EDA brings disgust, fear and sadness up to the target ({headline['n_train']:,.0f} → "
            f"{headline['n_train_aug']:,.0f} rows; notebook 01 shows the variants per class).\n"
            f"* Speed: `.venv/bin/python benchmarks/augment.py` gives about {one['texts_per_s']:.0f} EDA "
            f"variants/s per core (one worker, after a {one['startup_s']:.0f} s start-up).\n")


# ------------------------------------------------------------------------------------------ all of them
def augmented_headline(index: pd.DataFrame) -> dict[str, float]:
    """The headline of the latest executed notebook 01 that augmented (``n_train_aug``) in a
    ``report.notebook_index``; empty when none did."""
    rows = index[index["notebook"] == "01_data_preprocessing"].sort_values(["date", "file"])
    found = [h for h in rows["headline"] if "n_train_aug" in h]
    return dict(found[-1]) if found else {}


def sections(runs_root: str | Path, index: pd.DataFrame, benchmarks: str | Path = BENCHMARKS,
             n_boot: int = 1000, seed: int = 0) -> dict[str, str]:
    """``{section name: Markdown}`` of every generated README section besides ``results``, from the run folders of
    ``runs_root``, the executed notebooks' ``index`` (``report.notebook_index``) and the ``benchmarks`` reports."""
    runs_root, benchmarks = Path(runs_root), Path(benchmarks)
    timed = speed_runs(runs_root)
    names = [*AUGMENTED, *(f"{n}_aug" for n in AUGMENTED), *EMBEDDINGS, *timed]
    results = {n: load_result(runs_root / n) for n in dict.fromkeys(names)}
    headline = augmented_headline(index)
    build: dict[str, Callable[[], str]] = {
        "augmentation": lambda: augmentation(results, n_boot, seed),
        "augmentation-cost": lambda: augmentation_cost(benchmarks, headline),
        "embeddings": lambda: embeddings(results, n_boot, seed),
        "train-speed": lambda: train_speed(benchmarks),
        "speed": lambda: speed({n: results[n] for n in timed}, int(headline["n_train"])),
        "bf16-emulation": lambda: bf16_emulation(benchmarks),
        "cuda-speed": lambda: cuda_speed(benchmarks),
        "inference": lambda: inference(benchmarks),
        "tuning-throughput": lambda: tuning_throughput(benchmarks),
        "dair": lambda: dair(runs_root, n_boot, seed),
        "references": reference_table,
        "notebooks": lambda: notebook_map(index),
        "newcomer": lambda: newcomer(benchmarks),
    }
    return {name: wrap(make()) for name, make in build.items()}


def newcomer(benchmarks: Path) -> str:
    """What the two commands cost on a fresh clone (``benchmarks/newcomer.py``'s report; a sentence when none)."""
    if not (benchmarks / NEWCOMER).exists():
        return "Time and disk of the two commands: not measured yet (`.venv/bin/python benchmarks/newcomer.py`)."
    b = _benchmark(benchmarks, NEWCOMER)
    r = b["results"]
    return (f"Measured on a fresh clone (`benchmarks/newcomer.py`, {b['date']}, {b['cpu']}, {b['cores']} cores, "
            f"load average {b['load_before']} at the start, "
            f"{'other jobs running' if b['load_before'] >= 0.5 else 'no other jobs'}; pip's download cache warm): "
            f"`make run` took {r['make_run_s'] / 60:.0f} min, set-up included, and "
            f"`make test` {r['make_test_s'] / 60:.0f} min. Disk: the clone {r['clone_mb']:.0f} MB, `.venv` "
            f"{r['venv_mb'] / 1024:.1f} GB, the quick run's `.smoke/` {r['smoke_mb']:.0f} MB. Training every model "
            "of the full profile takes hours on a CPU; with the committed runs read back, a full run of a notebook "
            "takes minutes (the notebook map gives each copy's time).")


def notebook_map(index: pd.DataFrame, notebooks: Sequence[str] = tuple(LESSONS)) -> str:
    """The README's notebook map: each notebook with its Colab badge, what it teaches and its newest full-profile
    executed copy (date, commit, headline scores) from ``report.notebook_index``."""
    from tools import colab_links, report

    owner, name = colab_links.repository()
    newest = report.newest_copies(index)
    lines = ["| notebook | open | what you learn | newest executed copy: what it found |", "| --- | --- | --- | --- |"]
    for stem in notebooks:
        found = "not run on the full data yet"
        if stem in newest.index:
            row = newest.loc[stem]
            took = "" if pd.isna(row["minutes"]) else f", {row['minutes']:.1f} min"
            found = (f"[{row['date']}, `{row['commit']}`{took}](notebook_outputs/{row['file']}): "
                     f"{report.scores_text(row['headline'])}")
        lines.append(f"| `{stem}` | {colab_links.badge(owner, name, stem + '.ipynb')} | {LESSONS[stem]} | {found} |")
    lines += ["", "Headline keys: `acc` test accuracy, `mf1` test macro-F1, `mlf1` multi-label test macro-F1 (others "
              "are named in each notebook's last cells); the link gives the copy's date, commit and run time "
              "(finished runs are read back, not trained again: the training times are in the notebooks' cost "
              "tables)."]
    return "\n".join(lines) + "\n"


def reference_table() -> str:
    """The reference results (``src_helpers/resources/reference_results.csv``, not runs of this project) as a
    Markdown table with their sources."""
    lines = ["Generated by `.venv/bin/python -m tools.report` from `src_helpers/resources/reference_results.csv` "
             "(read by `src_helpers.evaluation.references.load`). Do not edit.", "",
             "| reference | data set | target | metric | value | source |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {name} | {r.dataset} | {r.target} | {r.metric.replace('_', ' ')} | {r.value:g} | {r.source} |"
              for name, r in references.load().iterrows()]
    return "\n".join(lines) + "\n"


def wrap(markdown: str, width: int = WIDTH) -> str:
    """``markdown`` with its prose lines (not table rows) wrapped to ``width``, bullets' continuations indented."""
    out = []
    for line in markdown.split("\n"):
        indent = "  " if line.startswith("* ") else ""
        out += [line] if line.startswith("|") or len(line) <= width else textwrap.wrap(
            line, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
    return "\n".join(out)

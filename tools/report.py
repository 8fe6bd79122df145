"""The report generator: ``python -m tools.report`` (from the repository root) rewrites, from committed artifacts
only (run folders, executed notebooks, benchmark JSON; it trains nothing):

- ``notebook_outputs/results.md`` and ``results.csv``: the leaderboard (``comparison.leaderboard``), and the
  README's results section between the ``<!-- results:start -->`` / ``<!-- results:end -->`` markers;
- the README's other generated sections (``readme_sections.sections``: augmentation, speed, ...), each between its
  ``<!-- <name>:start -->`` / ``<!-- <name>:end -->`` markers;
- ``notebook_outputs/INDEX.md``: the history book, every executed notebook with its date, profile and headline;
- the comparison figures ``images/08_*.png`` (``src_helpers.evaluation.comparison.comparison_figures``).

``--check`` writes nothing and exits 1 when a committed file differs from what the artifacts give (CI runs it
through ``tests/tools/test_report.py``), so no number in them is typed by hand. A run folder that does not load whole
(``run_folders.RunFolderError``: an unfinished run, a missing or damaged file) stops it with exit code 2 and one
line naming the folder and the file: no run is ever left out of the results without a word.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from src_helpers import validation
from src_helpers.config import paths_for, portable_path
from src_helpers.evaluation import comparison, tables
from src_helpers.experiments.run_folders import RunFolderError

from . import REPO_ROOT, provenance, readme_sections

START, END = "<!-- results:start -->", "<!-- results:end -->"
MARKER = "<!-- {name}:{end} -->"  # a README section's markers: MARKER.format(name="speed", end="start")
NOTEBOOK_NAME = re.compile(r"^(?P<stem>\d\d_[a-z0-9_]+?)(?:__(?P<rest>.*))?\.ipynb$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FRACTION = re.compile(r"^(?P<key>.*?)(?P<value>-?0\.\d+)$")  # "mf10.5369": mf1 = 0.5369 (scores below 1)
NUMBER = re.compile(r"^(?P<key>.*[a-z_])(?P<value>-?\d+(?:\.\d+)?)$")  # "n_train43410", "bf16epochsec49"


# ------------------------------------------------------------------------------------------ the history book
def headline_from_name(name: str) -> dict[str, float]:
    """The headline scores an executed notebook's file name carries (``pipeline.output_name``, rounded to 4
    significant digits): ``02_baseline_tfidf__2026-11-25__acc0.6396__mf10.5369.ipynb`` -> ``{"acc": 0.6396,
    "mf1": 0.5369}``. A part that is no score is a ``ValueError`` naming the file."""
    match = NOTEBOOK_NAME.match(name)
    if not match:
        raise ValueError(f"{name}: not an executed notebook's name (<NN_name>__<date>__<scores>.ipynb)")
    scores: dict[str, float] = {}
    for part in (match["rest"] or "").split("__"):
        if not part or DAY.match(part) or re.fullmatch(r"run\d+", part):
            continue
        found = FRACTION.match(part) or NUMBER.match(part)
        if not found or not found["key"]:
            raise ValueError(f"{name}: {part!r} is neither a date, a run number nor a score")
        scores[found["key"]] = float(found["value"])
    return scores


def notebook_entry(path: Path) -> dict:
    """One executed notebook: its notebook, file, date and profile (papermill's metadata), headline (the
    metadata's unrounded ``headline`` when the pipeline stored it, else the file name's) and commit (the
    ``provenance`` the pipeline stored; ``–`` for copies made before it recorded one)."""
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))["metadata"]
    except (json.JSONDecodeError, KeyError) as e:
        raise ValueError(f"{portable_path(path)}: not a notebook ({type(e).__name__}: {e})") from None
    papermill = metadata.get("papermill") or {}
    headline = metadata.get("headline") or headline_from_name(path.name)
    return {"notebook": NOTEBOOK_NAME.match(path.name)["stem"], "file": path.name,
            "date": (papermill.get("start_time") or "")[:10] or None, "started": papermill.get("start_time") or "",
            "profile": (papermill.get("parameters") or {}).get("profile"), "headline": headline,
            "commit": provenance.short_commit(metadata.get("provenance")),
            "minutes": (metadata.get("provenance") or {}).get("wall_seconds", float("nan")) / 60}


def notebook_index(folder: str | Path = REPO_ROOT / "notebook_outputs") -> pd.DataFrame:
    """Every executed notebook in ``folder`` (``NN_*.ipynb``), in notebook then date order."""
    rows = [notebook_entry(p) for p in sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))]
    return pd.DataFrame(rows, columns=["notebook", "file", "date", "started", "profile", "headline", "commit",
                                       "minutes"])


def newest_copies(index: pd.DataFrame) -> pd.DataFrame:
    """The newest full-profile executed copy of each notebook (by papermill's start time), one row each."""
    full = index[index["profile"] == "full"].sort_values(["started", "file"])
    return full.groupby("notebook", sort=True).tail(1).set_index("notebook")


def _number(value: float) -> str:
    return f"{int(value)}" if float(value).is_integer() else f"{value:.4g}"


def scores_text(headline: dict[str, float]) -> str:
    return ", ".join(f"{k} {_number(v)}" for k, v in headline.items()) or "–"


def index_markdown(index: pd.DataFrame) -> str:
    """The history book as Markdown: one section per notebook, one line per executed copy."""
    lines = ["# The history book: every executed notebook", "",
             "Generated by `.venv/bin/python -m tools.report` from the executed notebooks in this folder; do not edit.",
             "Headline keys: `acc` test accuracy, `mf1` test macro-F1 (single-label), `mlf1` multi-label test",
             "macro-F1; other keys are named in the notebook's last cells. `commit`: the code the copy ran (`+`: with",
             "uncommitted changes; `–`: made before copies recorded it); each copy's first cell shows its versions",
             "and machine.", ""]
    for notebook, group in index.groupby("notebook", sort=True):
        lines += [f"## {notebook}", "", "| date | profile | commit | headline | file |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r.date or '–'} | {r.profile or '–'} | {r.commit} | {scores_text(r.headline)} "
                  f"| [{r.file}]({r.file}) |"
                  for r in group.sort_values(["date", "file"]).itertuples()]
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ the leaderboard
def _with_interval(row: pd.Series, metric: str) -> str:
    if pd.isna(row.get(metric)):
        return "–"
    return tables.interval_text(row[f"{metric}_low"], row[f"{metric}_high"], row[metric], ci_digits=3)


FOLD_SEEDS = (0, 1, 2)  # the cross-fitted dev scores of the ensembles: two halves of dev, three ways to draw them


def cross_fitted(runs_root: Path, boards: Sequence[pd.DataFrame]) -> dict[str, dict]:
    """For each ensemble run on a leaderboard of ``boards``: its cross-fitted dev macro-F1 per fold seed
    (``ensemble.cross_fitted_score`` over the runs it may choose from) and the best other model's dev macro-F1."""
    from src_helpers.evaluation.ensemble import candidates, cross_fitted_score
    from src_helpers.experiments.run_folders import load_result

    out = {}
    for board in boards:
        for name in board.index[board["family"] == comparison.ENSEMBLE]:
            ensemble = load_result(runs_root / name)
            runs = [load_result(runs_root / n) for n in candidates(runs_root, ensemble.target)[0]]
            others = board[board["family"] != comparison.ENSEMBLE]["dev_macro_f1"]
            out[name] = {"scores": [cross_fitted_score(runs, ensemble.config["max_size"], seed=s) for s in FOLD_SEEDS],
                         "best": others.idxmax(), "best_dev": float(others.max())}
    return out


def cross_fitted_text(checks: dict[str, dict]) -> str:
    """One sentence per ensemble: how far its own dev score is flattered by choosing on those rows."""
    parts = [f"`{name}` {min(c['scores']):.4f}-{max(c['scores']):.4f} (best other model `{c['best']}`: "
             f"{c['best_dev']:.4f})" for name, c in checks.items()]
    return (" An ensemble's own dev score is optimistic: its members, weights and thresholds were chosen on those "
            "rows. Cross-fitted (chosen on one half of dev, scored on the other, halves drawn with seeds "
            f"{', '.join(map(str, FOLD_SEEDS))}; `ensemble.cross_fitted_score`), dev macro-F1: " + "; ".join(parts)
            + ".") if parts else ""


def results_markdown(board: pd.DataFrame, multi: pd.DataFrame | None = None,
                     checks: dict[str, dict] | None = None) -> str:
    """The leaderboard (``comparison.leaderboard``) as the README's results section: a sentence on the model
    chosen on dev (and on the multi-label one, from ``multi``: ``leaderboard(target="multi")``; ``checks``: the
    ensembles' ``cross_fitted`` dev scores), then one row per model with its bootstrap 95% intervals in brackets."""
    chosen = board.index[board["best_on_dev"]][0]
    top = board.loc[chosen]
    multi_text = ""
    if multi is not None and len(multi):
        name = multi.index[multi["best_on_dev"]][0]
        multi_text = (f" Multi-label, chosen on dev among {len(multi)} models (macro-F1 "
                      f"{multi.loc[name, 'dev_macro_f1']:.4f}): **{name}**, test macro-F1 "
                      f"{_with_interval(multi.loc[name], 'test_macro_f1')}.")
    lines = ["Generated by `.venv/bin/python -m tools.report` from the committed run folders "
             f"(`notebook_outputs/runs/`: {len(board)} models of the full train split; bootstrap 95% intervals in "
             "brackets). Do not edit.",
             f"Chosen on dev (macro-F1 {top['dev_macro_f1']:.4f}): **{chosen}**, test accuracy "
             f"{top['test_accuracy']:.4f}, macro-F1 {top['test_macro_f1']:.4f}.{multi_text}"
             f"{cross_fitted_text(checks or {})} Sorted by test macro-F1; "
             "test decides nothing here. Notebook 08 adds significance tests, calibration, the ensembles and error "
             "analysis.", "",
             "| model | family | what | dev macro-F1 | test accuracy | test macro-F1 | multi-label macro-F1 |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, row in board.iterrows():
        shown = f"**{name}**" if row["best_on_dev"] else f"`{name}`"
        lines.append(f"| {shown} | {row['family']}{' (tuned)' if row['tuned'] else ''} | {row['about']} | "
                     f"{row['dev_macro_f1']:.4f} | {_with_interval(row, 'test_accuracy')} | "
                     f"{_with_interval(row, 'test_macro_f1')} | {_with_interval(row, 'multi_macro_f1')} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ README section
def replace_section(text: str, section: str, where: str = "README.md", name: str = "results") -> str:
    """``text`` with what lies between the markers of section ``name`` (``<!-- <name>:start -->`` and
    ``<!-- <name>:end -->``) replaced by ``section``; missing or doubled markers are a ``ValueError`` naming
    ``where`` and the markers."""
    start, end = (MARKER.format(name=name, end=e) for e in ("start", "end"))
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"{where}: needs one {start} line followed by one {end} line")
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{section.strip()}\n{end}{tail}"


def place_sections(texts: dict[Path, str], sections: dict[str, str]) -> dict[Path, str]:
    """The documents ``texts`` (README.md and docs/*.md) with every generated section put between its markers,
    wherever they are; a section whose markers are in no document, or in several, is a ``ValueError``."""
    texts = dict(texts)
    for name, section in sections.items():
        start = MARKER.format(name=name, end="start")
        holders = [path for path, text in texts.items() if start in text]
        if len(holders) != 1:
            where = ", ".join(portable_path(p) for p in holders) or "no document"
            raise ValueError(f"section {name}: its {start} markers must be in exactly one of README.md, docs/*.md "
                             f"(found in {where})")
        texts[holders[0]] = replace_section(texts[holders[0]], section, portable_path(holders[0]), name)
    return texts


def documents(root: Path = REPO_ROOT) -> list[Path]:
    """The Markdown files that hold generated sections: the README front page and the pages under ``docs/``."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


# ------------------------------------------------------------------------------------------ CLI
def write_or_check(path: Path, content: str, check: bool) -> bool:
    """Write ``content`` to ``path`` (or, with ``check``, compare); True when the file already held it."""
    same = path.exists() and path.read_text(encoding="utf-8") == content
    if not check and not same:
        path.write_text(content, encoding="utf-8")
    return same


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Regenerate the results table, the README section, the history "
                                            "book index and the comparison figures from committed artifacts.")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is out of date")
    p.add_argument("--n-boot", type=validation.cli(validation.COUNT), default=1000,
                   help="bootstrap resamples of the 95%% intervals")
    p.add_argument("--no-figures", action="store_true", help="skip the figures (images/08_*.png)")
    a = p.parse_args(argv)
    try:
        return regenerate(a.check, a.n_boot, a.no_figures)
    except RunFolderError as err:  # a damaged or unfinished run folder: named in one line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2


def regenerate(check: bool, n_boot: int = 1000, no_figures: bool = False) -> int:
    """What ``main`` does: write (or, with ``check``, compare) every generated file; 1 when ``check`` finds one
    out of date. A run folder that does not load whole stops it (``run_folders.RunFolderError``)."""
    paths = paths_for("full", REPO_ROOT)  # the committed artifacts, whatever SRC_HELPERS_OUTPUT_ROOT says
    board = comparison.leaderboard(paths.runs, n_boot=n_boot, seed=0)
    multi = comparison.leaderboard(paths.runs, n_boot=n_boot, seed=0, target="multi")
    section = results_markdown(board, multi, cross_fitted(paths.runs, (board, multi)))
    index = notebook_index(paths.notebooks_out)
    generated = {"results": section, **readme_sections.sections(paths.runs, index, n_boot=n_boot, seed=0)}
    docs = {path: path.read_text(encoding="utf-8") for path in documents()}
    expected = {paths.notebooks_out / "INDEX.md": index_markdown(index),
                paths.notebooks_out / "results.md": f"# Results\n\n{section}",
                paths.notebooks_out / "results.csv": board.round(4).to_csv(),
                **place_sections(docs, generated)}
    stale = [f for f, content in expected.items() if not write_or_check(f, content, check)]
    for f in stale:
        print(f"{'out of date' if check else 'rewrote'}: {portable_path(f)}")
    if not stale:
        print(f"up to date: {', '.join(portable_path(f) for f in expected)}")
    if not check and not no_figures:
        benchmarks = tables.inference_benchmarks(readme_sections.BENCHMARKS)
        for path in comparison.comparison_figures(paths.runs, board, paths.images, benchmarks=benchmarks).values():
            print(f"drew: {portable_path(path)}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())

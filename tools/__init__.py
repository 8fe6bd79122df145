"""The project's own bookkeeping, run from the repository root and kept out of the ``src_helpers`` package: the
report generator (``python -m tools.report``: the README's generated sections, ``notebook_outputs/results.*`` and
``INDEX.md``, the comparison figures) and the Open-in-Colab links of a fork (``python -m tools.colab_links``)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

"""The reporting path needs no torch: every ``src_helpers.evaluation`` module imports with torch blocked (model
loading in ``cross_domain.model_probs`` imports it lazily, inside the function)."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache

import pytest

from src_helpers.config import REPO_ROOT

MODULES = ("calibration", "comparison", "cross_domain", "ensemble", "error_analysis", "figures", "metrics",
           "references", "results", "stats", "tables")
# Run in a fresh interpreter: a finder refuses torch, then each module is imported; prints {module: error or None}.
PROBE = """
import importlib, importlib.abc, json, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"torch blocked ({name})")
sys.meta_path.insert(0, NoTorch())
errors = {}
for m in sys.argv[1:]:
    try:
        importlib.import_module(f"src_helpers.evaluation.{m}")
        errors[m] = None
    except ImportError as err:
        errors[m] = str(err)
print(json.dumps(errors))
"""


@cache
def probe() -> dict[str, str | None]:
    out = subprocess.run([sys.executable, "-c", PROBE, *MODULES], capture_output=True, text=True, check=True,
                         cwd=REPO_ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_without_torch(module: str) -> None:
    assert probe()[module] is None, f"src_helpers.evaluation.{module} imports torch: {probe()[module]}"

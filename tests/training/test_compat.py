"""Version-agnostic calls: the package runs on transformers 4.57+ (with TextAttack) and on transformers 5.

CI runs the suite on both stacks (``make test`` and ``make test-tf5``; README: tested versions).
"""

from __future__ import annotations

from pathlib import Path

import transformers
from transformers import TrainingArguments

from src_helpers.training import finetune as ft


def test_warmup_and_grouping_fit_the_installed_transformers(tmp_path: Path) -> None:
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none",
                             **ft.warmup_and_grouping(0.06))
    assert args.get_warmup_steps(100) == 6, transformers.__version__
    strategy = getattr(args, "train_sampling_strategy", None)  # transformers 5
    assert getattr(args, "group_by_length", False) or strategy == "group_by_length", "length-grouped batches"

"""What a resume or reuse checks: the data it was trained on, and readable checkpoints (or a clear error)."""

from __future__ import annotations

import errno
import json
import logging
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch

from src_helpers.config import REPO_ROOT
from src_helpers.data.goemotions import load_for_profile, load_goemotions, subsample
from src_helpers.training import checkpoints
from src_helpers.training import finetune as ft
from src_helpers.training.checkpoints import CheckpointError, DiskFullError
from src_helpers.training.resume import data_fingerprint
from tests.tiny_models import make_tiny_model
from tests.training.helpers import finetune, train_rnn

TINY_GRU = {"arch": "gru", "embedding_dim": 16, "hidden_dim": 16, "num_layers": 1, "dropout": 0.1}
FAST = {"epochs": 3, "batch_size": 32, "learning_rate": 5e-3, "num_threads": 1, "patience": 10}


@pytest.fixture(scope="module")
def sample() -> dict:
    return load_goemotions(source="sample")


class Interrupted(Exception):
    pass


def stop_after(n: int):
    def hook(epoch: int, row: dict) -> None:  # like a kill right after epoch n's checkpoints
        if epoch == n:
            raise Interrupted

    return hook


def rnn(splits: dict, run_dir: Path, **kw):
    return train_rnn(splits, run_dir, TINY_GRU, {**FAST, **kw.pop("train", {})}, min_frequency=1,
                            progress=False, **kw)


def interrupted_rnn(splits: dict, run_dir: Path, after: int) -> None:
    with pytest.raises(Interrupted):
        rnn(splits, run_dir, on_epoch_end=stop_after(after))


def truncate(path: Path, n: int = 100) -> None:
    path.write_bytes(path.read_bytes()[:n])


def damage(path: Path, how: str) -> bytes:
    """Make ``path`` unreadable (``empty``, ``truncated`` or ``garbled``); its new content."""
    data = {"empty": b"", "truncated": path.read_bytes()[:100], "garbled": b"\x00garbage" * 50}[how]
    path.write_bytes(data)
    return data


def epochs_of(history: pd.DataFrame) -> pd.DataFrame:
    return history.drop(columns="train_seconds")


def disk_free(monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    """``shutil.disk_usage`` reports ``free`` bytes left."""
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**12, 0, free))


def failing_save(err: BaseException):
    """A ``torch.save`` that writes part of the file, then fails with ``err`` (as on a full disk)."""

    def save(obj: object, f: object, *args, **kwargs) -> None:
        if isinstance(f, str | Path):
            Path(f).write_bytes(b"PK\x03\x04 partial")
        raise err

    return save


# ------------------------------------------------------------------------------------------ fingerprint
def test_data_fingerprint_is_a_content_hash(sample: dict) -> None:
    fp = data_fingerprint(sample)
    copy = {s: df.copy() for s, df in sample.items()}
    assert data_fingerprint(copy) == fp and len(fp["sha256"]) == 64
    assert (fp["n_train"], fp["n_dev"], fp["n_test"], fp["source"]) == (336, 70, 70, "sample")
    copy["dev"].loc[copy["dev"].index[0], "text"] += "!"
    assert data_fingerprint(copy)["sha256"] != fp["sha256"]
    relabelled = {**sample, "test": sample["test"].assign(ekman_groups=[(0,)] * len(sample["test"]))}
    assert data_fingerprint(relabelled)["sha256"] != fp["sha256"]
    shuffled = {**sample, "train": sample["train"].iloc[::-1]}
    assert data_fingerprint(shuffled)["sha256"] != fp["sha256"], "row order changes training"
    sub = {**sample, "train": subsample(sample["train"], 100)}
    assert data_fingerprint(sub)["sha256"] != fp["sha256"] and data_fingerprint(sub)["n_train"] < 336
    aug = sample["train"].copy()
    aug.attrs = {**sample["train"].attrs, "augmented_with": "eda", "source": "/some/where/goemotions"}
    info = data_fingerprint({**sample, "train": aug}, train_rows=64, data_dir=None)
    assert info["augmented_with"] == "eda" and info["train_rows"] == 64 and "data_dir" not in info
    assert info["source"] == "goemotions", "a local folder by its name only"
    assert info["sha256"] == fp["sha256"], "only the content decides"
    assert data_fingerprint(relabelled)["training_sha256"] == fp["training_sha256"], "test is not trained on"
    assert data_fingerprint(sub)["training_sha256"] != fp["training_sha256"]
    dev_changed = {**sample, "dev": sample["dev"].iloc[::-1]}
    assert data_fingerprint(dev_changed)["training_sha256"] != fp["training_sha256"], "dev chooses the epoch"


# ------------------------------------------------------------------------------------------ RNN trainer
def test_rnn_resume_on_other_data_is_an_error_naming_both(sample: dict, tmp_path: Path) -> None:
    # MiniLM's WordPiece vocabulary does not depend on the data, so nothing else in the fingerprint differs
    rnn(sample, tmp_path / "gru", train={"epochs": 2}, tokenizer="minilm")
    other = {**sample, "train": subsample(sample["train"], 200)}
    with pytest.raises(ValueError, match="last.pt: checkpoints trained on data") as err:
        rnn(other, tmp_path / "gru", train={"epochs": 2}, tokenizer="minilm")
    msg = str(err.value)
    for info in (data_fingerprint(sample), data_fingerprint(other)):
        assert info["sha256"][:12] in msg and f"n_train={info['n_train']}" in msg
    assert "resume=False" in msg
    r = rnn(other, tmp_path / "gru", train={"epochs": 2}, tokenizer="minilm", resume=False)
    assert json.loads((tmp_path / "gru/config.json").read_text())["data"] == data_fingerprint(other)
    assert len(r.history) == 2


def test_rnn_finished_run_with_another_test_split_is_evaluated_not_trained(sample: dict, tmp_path: Path) -> None:
    first = rnn(sample, tmp_path / "gru", train={"epochs": 2}, tokenizer="minilm")
    other_test = {**sample, "test": sample["dev"]}  # as tuning's second stage trains: dev in test's slot
    epochs = []
    again = rnn(other_test, tmp_path / "gru", train={"epochs": 2}, tokenizer="minilm",
                on_epoch_end=lambda epoch, row: epochs.append(epoch))
    assert epochs == [] and again.history.equals(first.history), "no epoch trained again"
    assert again.dev == first.dev and again.test == again.dev, "the same model, evaluated on the new test split"
    assert json.loads((tmp_path / "gru/config.json").read_text())["data"] == data_fingerprint(other_test)
    with pytest.raises(ValueError, match="last.pt: checkpoints trained on data"):
        rnn({**other_test, "dev": sample["test"]}, tmp_path / "gru", train={"epochs": 2}, tokenizer="minilm")


def test_rnn_sample_then_real_subset_in_the_same_folder(sample: dict, real_data_dir: Path, tmp_path: Path) -> None:
    rnn(sample, tmp_path / "gru", train={"epochs": 1}, tokenizer="minilm")
    real = load_for_profile("quick", real_data_dir)
    with pytest.raises(ValueError, match=r"trained on data \w+ \(n_train=336.* but this call gives data "
                                         rf"\w+ \(n_train={len(real['train'])}"):
        rnn(real, tmp_path / "gru", train={"epochs": 1}, tokenizer="minilm")


def test_rnn_checkpoint_without_data_fingerprint_is_refused(sample: dict, tmp_path: Path) -> None:
    interrupted_rnn(sample, tmp_path / "gru", after=1)
    last = tmp_path / "gru/checkpoints/last.pt"
    ckpt = torch.load(last, weights_only=False)
    del ckpt["fingerprint"]["data"]  # as written before checkpoints recorded their data
    torch.save(ckpt, last)
    with pytest.raises(ValueError, match="cannot be checked") as err:
        rnn(sample, tmp_path / "gru")
    assert str(last) in str(err.value) and "resume=False" in str(err.value)


def test_rnn_unreadable_last_pt_falls_back_to_the_previous_one(sample: dict, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    full = rnn(sample, tmp_path / "full")
    assert not (tmp_path / "full/checkpoints/last.prev.pt").exists(), "a finished run keeps one last.pt"
    interrupted_rnn(sample, tmp_path / "killed", after=2)
    ckpts = tmp_path / "killed/checkpoints"
    assert torch.load(ckpts / "last.prev.pt", weights_only=False)["state"]["epoch"] == 0
    truncate(ckpts / "last.pt")
    capsys.readouterr()
    with pytest.warns(UserWarning, match="unreadable") as warned:
        resumed = rnn(sample, tmp_path / "killed")
    assert str(ckpts / "last.pt") in str(warned[0].message) and str(ckpts / "last.prev.pt") in str(warned[0].message)
    assert "resuming killed after epoch 1" in capsys.readouterr().out
    assert resumed.test == full.test and resumed.dev == full.dev
    pd.testing.assert_frame_equal(resumed.history.drop(columns="train_seconds"),
                                  full.history.drop(columns="train_seconds"))
    assert "kept as" in str(warned[0].message)
    assert [p.name[:len("last.pt.damaged-")] for p in ckpts.glob("last.pt.damaged-*")] == ["last.pt.damaged-"], \
        "the unreadable file is kept aside"


@pytest.mark.parametrize(("finished", "how"), [(False, "empty"), (False, "truncated"), (True, "garbled")])
def test_rnn_unreadable_only_checkpoint_is_set_aside_and_the_run_starts_over(
        sample: dict, tmp_path: Path, capsys: pytest.CaptureFixture, finished: bool, how: str) -> None:
    fresh = rnn(sample, tmp_path / "fresh")
    if finished:
        rnn(sample, tmp_path / "gru")  # a finished run keeps last.pt alone
    else:
        interrupted_rnn(sample, tmp_path / "gru", after=1)  # after its first epoch, last.pt is the only one
    ckpts = tmp_path / "gru/checkpoints"
    last = ckpts / "last.pt"
    assert not (ckpts / "last.prev.pt").exists()
    bad = damage(last, how)
    capsys.readouterr()
    epochs: list[int] = []
    with pytest.warns(UserWarning, match="unreadable") as warned:
        again = rnn(sample, tmp_path / "gru", on_epoch_end=lambda epoch, row: epochs.append(epoch))
    kept = list(ckpts.glob("last.pt.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == bad, "the damaged file is kept, renamed"
    msg = [str(w.message) for w in warned if "unreadable" in str(w.message)]
    assert len(msg) == 1 and str(last) in msg[0] and str(kept[0]) in msg[0] and "starts over" in msg[0]
    assert "resuming" not in capsys.readouterr().out
    assert epochs == [1, 2, 3], "trained from scratch"
    assert again.test == fresh.test and again.dev == fresh.dev
    pd.testing.assert_frame_equal(epochs_of(again.history), epochs_of(fresh.history))
    assert torch.load(last, weights_only=False)["state"]["epoch"] == 2
    assert len(rnn(sample, tmp_path / "gru", resume=False).history) == 3
    assert kept[0].read_bytes() == bad, "resume=False deletes checkpoints but not the damaged one"


def test_rnn_unreadable_previous_checkpoint_too_sets_both_aside(sample: dict, tmp_path: Path) -> None:
    interrupted_rnn(sample, tmp_path / "gru", after=2)
    ckpts = tmp_path / "gru/checkpoints"
    truncate(ckpts / "last.pt")
    (ckpts / "last.prev.pt").write_bytes(b"")
    with pytest.warns(UserWarning, match="starts over") as warned:
        again = rnn(sample, tmp_path / "gru")
    text = "\n".join(str(w.message) for w in warned)
    assert str(ckpts / "last.pt") in text and str(ckpts / "last.prev.pt") in text
    assert len(list(ckpts.glob("last.pt.damaged-*"))) == 1 and len(list(ckpts.glob("last.prev.pt.damaged-*"))) == 1
    assert len(again.history) == 3


def test_set_aside_names_never_match_the_checkpoint_lookups(tmp_path: Path) -> None:
    last = tmp_path / "last.pt"
    last.write_bytes(b"x")
    folder = tmp_path / "checkpoint-6"
    folder.mkdir()
    first = checkpoints.aside_path(last, when=0)
    assert first.name == "last.pt.damaged-19700101T000000Z"
    first.write_bytes(b"an earlier damaged one")
    assert checkpoints.aside_path(last, when=0).name == "last.pt.damaged-19700101T000000Z-1", "never overwritten"
    assert checkpoints.aside_path(folder, when=0).name == "damaged-checkpoint-6.19700101T000000Z"
    msg = checkpoints.set_aside(folder, "optimizer.pt: empty", "the run starts over from scratch")
    assert not folder.exists() and list(tmp_path.glob("checkpoint-*")) == [] and list(tmp_path.glob("*.pt")) == [last]
    assert str(folder) in msg and "optimizer.pt: empty" in msg and "starts over" in msg


def test_set_aside_checkpoints_are_git_ignored(tmp_path: Path) -> None:
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    names = ["notebook_outputs/runs/x/last.pt.damaged-20261201T223000Z",
             "runs/x/damaged-checkpoint-6.20261201T223000Z/model.safetensors"]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *names], cwd=REPO_ROOT, capture_output=True,
                             text=True).stdout.split()
    assert ignored == names


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_rnn_unreadable_best_pt_names_the_file(sample: dict, tmp_path: Path, damage: str) -> None:
    rnn(sample, tmp_path / "gru", train={"epochs": 1})
    best = tmp_path / "gru/checkpoints/best.pt"
    best.write_bytes(b"") if damage == "empty" else truncate(best)
    with pytest.raises(CheckpointError, match="unreadable") as err:
        rnn(sample, tmp_path / "gru", train={"epochs": 1})
    assert str(best) in str(err.value) and "resume=False" in str(err.value)


DISK_FULL = [RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 792768 vs 792660"),
             RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"),
             OSError(errno.ENOSPC, "No space left on device")]


@pytest.mark.parametrize("err", DISK_FULL, ids=["unexpected-pos", "write-failed", "ENOSPC"])
def test_disk_full_while_saving_names_the_file_and_keeps_the_previous_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, err: BaseException) -> None:
    last = tmp_path / "last.pt"
    checkpoints.save_file({"epoch": 1}, last)
    if isinstance(err, RuntimeError):  # torch does not say why its write failed: little free space tells
        disk_free(monkeypatch, 4096)
    monkeypatch.setattr(checkpoints.torch, "save", failing_save(err))
    with pytest.raises(DiskFullError) as raised:
        checkpoints.save_file({"epoch": 2}, last, keep_previous=True)
    assert isinstance(raised.value, OSError) and raised.value.errno == errno.ENOSPC
    assert "disk full" in str(raised.value) and str(last) in str(raised.value)
    monkeypatch.undo()
    assert torch.load(last) == {"epoch": 1}, "the previous checkpoint is intact"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"], "no temporary file left"


@pytest.mark.parametrize("err", [DISK_FULL[1], OSError(errno.EIO, "Input/output error")], ids=["torch", "EIO"])
def test_failed_save_with_room_left_is_named_not_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           err: BaseException) -> None:
    best = tmp_path / "best.pt"
    checkpoints.save_file({"epoch": 1}, best)
    disk_free(monkeypatch, 10**11)
    monkeypatch.setattr(checkpoints.torch, "save", failing_save(err))
    with pytest.raises(type(err), match=str(err).split("] ")[-1]) as raised:
        checkpoints.save_file({"epoch": 2}, best)
    assert not isinstance(raised.value, DiskFullError) and "disk full" not in str(raised.value)
    assert str(best) in str(raised.value) and raised.value.__cause__ is err
    monkeypatch.undo()
    assert torch.load(best) == {"epoch": 1} and sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]


def test_write_errors_of_a_folder_leave_other_errors_alone(tmp_path: Path) -> None:
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", "vocab.txt")
    with pytest.raises(FileNotFoundError) as raised, checkpoints.write_errors(tmp_path, "the run folder"):
        raise missing
    assert raised.value is missing, "not a write of the folder: passed on unchanged"
    with pytest.raises(DiskFullError, match="disk full") as full, checkpoints.write_errors(tmp_path, "the run folder"):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert f"the run folder {tmp_path}" in str(full.value)


def test_rnn_disk_full_during_an_epoch_keeps_the_checkpoint_before(sample: dict, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    interrupted_rnn(sample, tmp_path / "gru", after=1)
    ckpts = tmp_path / "gru/checkpoints"
    before = {p.name: p.read_bytes() for p in ckpts.iterdir()}
    disk_free(monkeypatch, 0)
    monkeypatch.setattr(checkpoints.torch, "save", failing_save(DISK_FULL[0]))
    with pytest.raises(DiskFullError, match="disk full") as raised:
        rnn(sample, tmp_path / "gru")
    assert any(str(ckpts / name) in str(raised.value) for name in ("best.pt", "last.pt"))
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in ckpts.iterdir()} == before, "checkpoints as they were, no temp file"
    assert len(rnn(sample, tmp_path / "gru").history) == 3, "resumes once there is room"


# ---------------------------------------------------------------------------------------- transformers
@pytest.fixture(scope="module")
def ft_splits(sample: dict):
    return subsample(sample["train"], 48, seed=1), subsample(sample["dev"], 21), subsample(sample["test"], 21)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model("distilbert", tmp_path_factory.mktemp("hub") / "distilbert")


def _cfg(tiny: Path, **kw) -> ft.FTConfig:
    base = dict(model_name=str(tiny), epochs=2, batch_size=8, eval_batch_size=16, max_length=32,
                learning_rate=1e-3, logging_steps=2, num_threads=1)
    return ft.FTConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def ft_run(ft_splits, tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ft.FTResult]:
    """A finished 2-epoch run (two checkpoint folders); tests work on copies."""
    run_dir = tmp_path_factory.mktemp("ft") / "run"
    return run_dir, finetune(*ft_splits, _cfg(tiny), run_dir)


def copy_run(ft_run, tmp_path: Path) -> Path:
    return Path(shutil.copytree(ft_run[0], tmp_path / "run"))


def checkpoint_folders(run_dir: Path) -> list[Path]:
    """The two epochs' ``checkpoint-N`` folders, first epoch first."""
    folders = sorted((run_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert len(folders) == 2, folders
    return folders


def test_finished_run_stores_and_checks_its_data(ft_splits, tiny: Path, ft_run, tmp_path: Path) -> None:
    train, dev, test = ft_splits
    run_dir = copy_run(ft_run, tmp_path)
    stored = json.loads((run_dir / "config.json").read_text())["data"]
    assert stored == data_fingerprint({"train": train, "dev": dev, "test": test})
    assert finetune(train, dev, test, _cfg(tiny), run_dir).dev == ft_run[1].dev, "same data: reused"
    other = subsample(load_goemotions(source="sample")["train"], 40, seed=2)
    with pytest.raises(ValueError, match="config.json was trained on data") as err:
        finetune(other, dev, test, _cfg(tiny), run_dir)
    msg = str(err.value)
    assert stored["sha256"][:12] in msg and f"n_train={len(train)}" in msg and f"n_train={len(other)}" in msg
    assert "resume=False" in msg


def test_finished_run_without_data_is_reused_with_a_warning(ft_splits, tiny: Path, ft_run, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    run_dir = copy_run(ft_run, tmp_path)
    config = json.loads((run_dir / "config.json").read_text())
    config["data"] = None  # like the committed runs: their data was never recorded
    (run_dir / "config.json").write_text(json.dumps(config))
    with caplog.at_level(logging.INFO, logger=ft.__name__):
        again = finetune(*ft_splits, _cfg(tiny), run_dir)
    assert again.dev == ft_run[1].dev
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and "could not be checked" in warning[0] and f"{run_dir.name}/config.json" in warning[0]


def test_interrupted_run_on_other_data_is_an_error(ft_splits, tiny: Path, ft_run, tmp_path: Path) -> None:
    train, dev, test = ft_splits
    run_dir = copy_run(ft_run, tmp_path)
    (run_dir / "config.json").unlink()  # as if killed before the end: only the checkpoints are there
    with pytest.raises(ValueError, match="checkpoints trained on data") as err:
        finetune(train, subsample(dev, 14), test, _cfg(tiny), run_dir)
    assert "n_dev=21" in str(err.value) and "n_dev=14" in str(err.value)
    stored = json.loads((run_dir / "checkpoints/ft_config.json").read_text())
    del stored["data"]  # checkpoints written before runs recorded their data
    (run_dir / "checkpoints/ft_config.json").write_text(json.dumps(stored))
    with pytest.raises(ValueError, match="cannot be checked"):
        finetune(train, dev, test, _cfg(tiny), run_dir)


@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.pt", "trainer_state.json"])
def test_unreadable_last_trainer_checkpoint_falls_back(ft_splits, tiny: Path, ft_run, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture, name: str) -> None:
    run_dir = copy_run(ft_run, tmp_path)
    (run_dir / "config.json").unlink()
    first, last = checkpoint_folders(run_dir)
    truncate(last / name)
    with caplog.at_level(logging.INFO, logger=ft.__name__):
        res = finetune(*ft_splits, _cfg(tiny), run_dir)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert f"{last} is unreadable ({name}" in text and f"resuming from {first}" in text
    kept = list(last.parent.glob(f"damaged-{last.name}.*"))
    assert len(res.history) == 2 and len(kept) == 1 and kept[0].is_dir() and f"kept as {kept[0]}" in text
    assert (run_dir / "config.json").exists()


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_unreadable_only_trainer_checkpoint_is_set_aside_and_the_run_starts_over(
        ft_splits, tiny: Path, ft_run, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run_dir = copy_run(ft_run, tmp_path)
    (run_dir / "config.json").unlink()
    first, last = checkpoint_folders(run_dir)
    shutil.rmtree(last)  # killed during the second epoch: the first epoch's checkpoint is the only one
    truncate(first / "model.safetensors")
    bad = folder_bytes(first)
    with caplog.at_level(logging.INFO, logger=ft.__name__):
        res = finetune(*ft_splits, _cfg(tiny), run_dir)
    kept = list(run_dir.glob(f"checkpoints/damaged-{first.name}.*"))
    assert len(kept) == 1 and folder_bytes(kept[0]) == bad, "the damaged folder is kept as it was"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"{first} is unreadable (model.safetensors" in warnings[0]
    assert f"kept as {kept[0]}" in warnings[0] and "starts over" in warnings[0]
    assert len(res.history) == 2 and (run_dir / "config.json").exists()
    assert res.dev == ft_run[1].dev and res.test == ft_run[1].test, "trained from scratch, as the first time"
    assert [p.name for p in checkpoint_folders(run_dir)] == [first.name, last.name]


def test_no_readable_trainer_checkpoint_sets_each_aside_and_starts_over(ft_splits, tiny: Path, ft_run,
                                                                        tmp_path: Path) -> None:
    run_dir = copy_run(ft_run, tmp_path)
    (run_dir / "config.json").unlink()
    first, last = checkpoint_folders(run_dir)
    (last / "optimizer.pt").write_bytes(b"")
    truncate(first / "model.safetensors")
    res = finetune(*ft_splits, _cfg(tiny), run_dir)
    assert len(res.history) == 2 and res.dev == ft_run[1].dev
    for folder in (first, last):  # kept through the new run's checkpoint rotation (save_total_limit=2)
        assert len(list(run_dir.glob(f"checkpoints/damaged-{folder.name}.*"))) == 1
    checkpoint_folders(run_dir)


def test_disk_full_while_the_trainer_saves_names_the_folder(ft_splits, tiny: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = tmp_path / "run"
    disk_free(monkeypatch, 0)
    monkeypatch.setattr(torch, "save", failing_save(DISK_FULL[0]))  # the Trainer's torch.save calls
    with pytest.raises(DiskFullError, match="disk full") as raised:
        finetune(*ft_splits, _cfg(tiny, epochs=1), run_dir)
    assert raised.value.errno == errno.ENOSPC and str(run_dir / "checkpoints") in str(raised.value)
    monkeypatch.undo()
    partial = list((run_dir / "checkpoints").glob("checkpoint-*"))
    assert len(partial) == 1 and checkpoints.checkpoint_folder_problem(partial[0])
    res = finetune(*ft_splits, _cfg(tiny, epochs=1), run_dir)  # once there is room: the partial one set aside
    assert len(res.history) == 1 and len(list(run_dir.glob(f"checkpoints/damaged-{partial[0].name}.*"))) == 1


def test_cli_other_train_rows_is_an_error_not_a_reuse(tiny: Path, tmp_path: Path) -> None:
    args = ["--profile", "quick", "--epochs", "1", "--model-name", str(tiny), "--max-length", "32",
            "--num-threads", "1", "--run-name", "cli"]
    assert ft.main([*args, "--train-rows", "64"]) == 0
    config = json.loads((tmp_path / "out/.smoke/runs/cli/config.json").read_text())
    assert config["data"]["train_rows"] == 64 and config["data"]["source"] == "sample"
    with pytest.raises(ValueError, match=r"n_train=63\b.*train_rows=64.* but this call gives data \w+ \(n_train=200"):
        ft.main([*args, "--train-rows", "200"])


def test_one_decision_reuse_resume_or_start_over(sample: dict, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    from src_helpers.training.resume import FRESH, RESUME, REUSE, Record, decide

    data, settings = data_fingerprint(sample), {"lr": 1}
    other = data_fingerprint({**sample, "train": subsample(sample["train"], 100)})
    done, ckpt = Record(settings, data, tmp_path / "config.json"), Record(settings, data, tmp_path / "last.pt")
    assert decide(done, ckpt, settings, data) == REUSE and decide(None, ckpt, settings, data) == RESUME
    assert decide(None, None, settings, data) == FRESH and decide(done, ckpt, settings, data, resume=False) == FRESH
    assert decide(Record({"lr": 2}, data, tmp_path / "config.json"), None, settings, data) == FRESH
    with pytest.raises(ValueError, match="another configuration"):
        decide(None, Record({"lr": 2}, data, tmp_path / "last.pt"), settings, data)
    with pytest.raises(ValueError, match="config.json was trained on data"):
        decide(done, None, settings, other)
    with pytest.raises(ValueError, match="cannot be checked"):
        decide(None, Record(settings, None, tmp_path / "last.pt"), settings, data)
    with caplog.at_level(logging.WARNING):
        assert decide(Record(settings, None, tmp_path / "config.json"), None, settings, data) == REUSE
    assert len(caplog.records) == 1 and "could not be checked" in caplog.records[0].getMessage()
    relabelled = {**sample, "test": sample["test"].assign(ekman_groups=[(0,)] * len(sample["test"]))}
    assert decide(None, ckpt, settings, data_fingerprint(relabelled), test_may_differ=True) == RESUME

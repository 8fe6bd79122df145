from __future__ import annotations

from pathlib import Path

import pytest

from src_helpers.dair import load_dair_emotion, read_dair_file
from src_helpers.data import DataFormatError


def _write(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    lines = ["i feel so lonely today;sadness", "i love this song;love", "i feel great;joy",
             "this makes me furious;anger", "i am scared; really;fear", "i am amazed;surprise"]
    for name in ("train.txt", "val.txt", "test.txt"):
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_local_dair_maps_love_to_joy(tmp_path: Path) -> None:
    splits = load_dair_emotion(_write(tmp_path / "dair"))
    test = splits["test"]
    assert set(splits) == {"train", "dev", "test"} and len(test) == 6
    assert test["ekman_label"].tolist() == ["sadness", "joy", "joy", "anger", "fear", "surprise"]
    assert test.loc[4, "text"] == "i am scared; really"  # only the last ';' separates the label
    assert test["ekman"].tolist() == [4, 3, 3, 0, 2, 5]


def test_bad_dair_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("fine;joy\nno label here\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad\.txt:2: expected 'text;label'"):
        read_dair_file(path)
    path.write_text("fine;joy\ntext;happiness\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad\.txt:2: unknown label 'happiness'"):
        read_dair_file(path)


def test_missing_dair_file(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("a;joy\n")
    with pytest.raises(FileNotFoundError, match="val.txt"):
        load_dair_emotion(tmp_path)

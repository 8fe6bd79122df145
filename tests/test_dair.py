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


def test_dair_non_utf8_bytes_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_bytes(b"fine;joy\nvery \x92fine\x92;joy\n")
    with pytest.raises(DataFormatError, match=r"train\.txt:2: not valid UTF-8 \(byte 0x92 at column 6\)"):
        read_dair_file(path)


def test_dair_bom_stripped_and_blank_line_rule(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text("\ufeffhello;joy\nbye;sadness\n\n  \n", encoding="utf-8")
    assert read_dair_file(path)["text"].tolist() == ["hello", "bye"]  # BOM gone, blank lines at the end ignored
    path.write_text("hello;joy\n\nbye;sadness\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"train\.txt:2: blank line"):
        read_dair_file(path)


def test_dair_duplicate_lines_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text("same text;joy\nother;fear\nsame text;joy\n", encoding="utf-8")
    assert len(read_dair_file(path)) == 3  # as in the official train.txt (one line occurs twice)


@pytest.mark.realdata
def test_real_dair_files_load(real_data_dir: Path) -> None:
    folder = real_data_dir.parent / "dair_emotion"
    if not (folder / "train.txt").exists():
        pytest.skip(f"DAIR emotion files not found at {folder}")
    splits = load_dair_emotion(folder)
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [16_000, 2_000, 2_000]
    assert splits["train"]["text"].iloc[0] == "i didnt feel humiliated"

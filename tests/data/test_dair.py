from __future__ import annotations

from pathlib import Path

import pytest

from src_helpers.data.dair import DAIR_LABELS, load_dair_emotion, load_for_profile, read_dair_file
from src_helpers.data.goemotions import DataFormatError


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
    assert test["dair"].tolist() == [0, 2, 1, 3, 4, 5]  # the hub's ids: sadness, joy, love, anger, fear, surprise
    assert test["comment_id"].tolist()[:2] == ["dair-test-000001", "dair-test-000002"]  # the split and file line
    assert splits["dev"]["comment_id"].iloc[0] == "dair-dev-000001"
    assert test.attrs == {"source": "local:dair", "split": "test", "label_names": list(DAIR_LABELS)}


def test_bad_dair_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("fine;joy\nno label here\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad\.txt:2: expected 'text;label'"):
        read_dair_file(path)
    path.write_text("fine;joy\ntext;happiness\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad\.txt:2: unknown label 'happiness'"):
        read_dair_file(path)
    path.write_text("fine;joy\n ;sadness\n", encoding="utf-8")  # a label without a text
    with pytest.raises(DataFormatError, match=r"bad\.txt:2: expected 'text;label'"):
        read_dair_file(path)
    path.write_text("fine;joy\nno label;\n", encoding="utf-8")  # an empty label
    with pytest.raises(DataFormatError, match=r"bad\.txt:2: unknown label ''"):
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


def test_dair_folder_from_the_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAIR_EMOTION_DIR", str(_write(tmp_path / "from_env")))
    splits = load_dair_emotion()  # no folder given: $DAIR_EMOTION_DIR, before the hub or the sample
    assert splits["train"].attrs["source"] == "local:from_env" and len(splits["train"]) == 6
    assert load_for_profile("full")["test"].attrs["source"] == "local:from_env"
    monkeypatch.setenv("DAIR_EMOTION_DIR", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=r"\$DAIR_EMOTION_DIR '.*missing': DAIR.AI emotion folder .* does not"):
        load_dair_emotion()


def test_bundled_sample_has_every_class_in_every_split() -> None:
    splits = load_dair_emotion(source="sample")
    assert {s: len(df) for s, df in splits.items()} == {"train": 36, "dev": 24, "test": 24}
    for split, df in splits.items():
        assert df["dair_label"].value_counts().to_dict() == {c: len(df) // 6 for c in DAIR_LABELS}, split
        assert df.attrs["source"] == "sample" and df["comment_id"].is_unique
    texts = [t for df in splits.values() for t in df["text"]]
    assert len(set(texts)) == len(texts), "no text twice, within or across splits"


def test_dair_load_for_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    quick = load_for_profile("quick")  # no folder: the bundled sample
    assert quick["train"].attrs["source"] == "sample" and len(quick["train"]) == 36
    folder = tmp_path / "dair"
    folder.mkdir()
    lines = [f"text {i} {c};{c}" for i in range(10) for c in DAIR_LABELS]  # 60 rows, 10 per class
    for name in ("train.txt", "val.txt", "test.txt"):
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    subset = load_for_profile("quick", folder, quick_sizes={"train": 30, "dev": 12, "test": 60})
    assert [len(subset[s]) for s in ("train", "dev", "test")] == [30, 12, 60]
    assert subset["train"]["dair"].value_counts().tolist() == [5] * 6, "stratified by DAIR class"
    assert subset["train"]["comment_id"].is_monotonic_increasing, "rows keep the file's order"
    monkeypatch.setattr("src_helpers.data.goemotions.hub_reachable", lambda: False)
    with pytest.raises(FileNotFoundError, match=r"'full' needs the real DAIR.AI emotion data.*\$DAIR_EMOTION_DIR"):
        load_for_profile("full")


@pytest.mark.realdata
def test_real_dair_files_load(real_data_dir: Path) -> None:
    folder = real_data_dir.parent / "dair_emotion"
    if not (folder / "train.txt").exists():
        pytest.skip(f"DAIR emotion files not found at {folder}")
    splits = load_dair_emotion(folder)
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [16_000, 2_000, 2_000]
    assert splits["train"]["text"].iloc[0] == "i didnt feel humiliated"
    assert splits["test"]["dair_label"].value_counts()[list(DAIR_LABELS)].tolist() == [581, 695, 159, 275, 224, 66]
    assert splits["train"]["comment_id"].is_unique and splits["test"]["comment_id"].iloc[-1] == "dair-test-002000"

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from src_helpers.data.ekman import EKMAN_LABELS
from src_helpers.data.goemotions import (
    DataFormatError,
    class_counts,
    load_for_profile,
    load_goemotions,
    read_goemotions_tsv,
    read_label_names,
    subsample,
)
from tests.conftest import write_tsv


def test_label_names_are_the_28_goemotions() -> None:
    names = read_label_names()
    assert len(names) == 28 and names[0] == "admiration" and names[-1] == "neutral"


def test_local_folder_parses_quotes_and_adds_ekman(tiny_goemotions: Path) -> None:
    splits = load_goemotions(tiny_goemotions)
    train = splits["train"]
    assert list(splits) == ["train", "dev", "test"] and len(train) == 8
    assert train.loc[2, "text"] == 'He said "run" and I was scared'
    assert train["ekman_label"].tolist() == ["anger", "disgust", "fear", "joy", "sadness", "surprise",
                                             "neutral", "anger"]
    assert train.loc[7, "ekman_groups"] == (0, 5)
    assert train.attrs["source"] == f"local:{tiny_goemotions.name}"  # no machine path: notebooks print it


@pytest.mark.parametrize(("row", "message"), [
    (("only two", "1"), "expected 3 tab-separated columns"),
    (("   ", "1", "x"), "empty text"),
    (("text", "1,a", "x"), "comma-separated integers"),
    (("text", "28", "x"), "outside 0..27"),
    (("text", "", "x"), "comma-separated integers"),
])
def test_bad_row_names_file_and_line(tmp_path: Path, row: tuple, message: str) -> None:
    path = write_tsv(tmp_path / "bad.tsv", [("fine text", "1", "ok1"), row])
    with pytest.raises(DataFormatError, match=rf"bad\.tsv:2: .*{message}"):
        read_goemotions_tsv(path)


def test_missing_split_file_is_named(tmp_path: Path) -> None:
    write_tsv(tmp_path / "train.tsv", [("a", "1", "x")])
    with pytest.raises(FileNotFoundError, match="dev.tsv"):
        load_goemotions(tmp_path)


def test_env_var_selects_local_folder(tiny_goemotions: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOEMOTIONS_DIR", str(tiny_goemotions))
    assert load_goemotions()["dev"].attrs["source"] == f"local:{tiny_goemotions.name}"


def test_offline_without_folder_falls_back_to_bundled_sample() -> None:
    splits = load_goemotions()  # HF_HUB_OFFLINE=1 from conftest
    assert splits["train"].attrs["source"] == "sample"
    counts = class_counts(splits, order=EKMAN_LABELS)
    assert (counts > 0).all().all(), "the sample covers every Ekman class in every split"
    assert len(splits["train"]) >= 300


def test_sample_splits_do_not_overlap() -> None:
    splits = load_goemotions(source="sample")
    texts = [set(df["text"]) for df in splits.values()]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])


def test_full_profile_refuses_the_sample() -> None:
    with pytest.raises(FileNotFoundError, match="profile 'full' needs the real GoEmotions data"):
        load_for_profile("full")


def test_quick_profile_subsamples_real_folder(tiny_goemotions: Path) -> None:
    splits = load_for_profile("quick", tiny_goemotions, quick_sizes={"train": 4, "dev": 8, "test": 8})
    assert len(splits["train"]) <= 7 and len(splits["dev"]) == 8


def test_subsample_keeps_every_class() -> None:
    train = load_goemotions(source="sample")["train"]
    small = subsample(train, 30, seed=1)
    assert len(small) <= 35 and set(small["ekman"]) == set(train["ekman"])


def test_bad_source_and_missing_dir() -> None:
    with pytest.raises(ValueError, match="source must be"):
        load_goemotions(source="web")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_goemotions("/nonexistent/folder")


@pytest.mark.realdata
def test_real_data_rows_and_primary_test_counts(real_data_dir: Path) -> None:
    splits = load_goemotions(real_data_dir)
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [43_410, 5_426, 5_427]
    counts = splits["test"]["ekman_label"].value_counts().to_dict()
    assert counts == {"anger": 701, "disgust": 84, "fear": 89, "joy": 2052, "sadness": 319,
                      "surprise": 576, "neutral": 1606}
    assert sum(t.count('"') > 0 for t in splits["train"]["text"]) > 0
    assert not any(t.startswith('"') and t.endswith('"') and '""' in t for t in splits["train"]["text"])


def test_text_longer_than_the_csv_field_limit_round_trips(tmp_path: Path) -> None:
    limit = csv.field_size_limit()
    long_text = "word " * 40_000  # 200,000 characters, above the csv module's default 131,072
    path = write_tsv(tmp_path / "long.tsv", [("short", "1", "a"), (long_text, "2", "b")])
    assert read_goemotions_tsv(path)["text"].tolist() == ["short", long_text]
    assert csv.field_size_limit() == limit, "the process-global limit is restored"


def test_non_utf8_bytes_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train.tsv"
    path.write_bytes(b"fine\t1\ta\nalso fine\t2\tb\ncaf\xe9 latin-1\t3\tc\n")
    with pytest.raises(DataFormatError, match=r"train\.tsv:3: not valid UTF-8 \(byte 0xe9 at column 4\)"):
        read_goemotions_tsv(path)
    names = tmp_path / "emotions.txt"
    names.write_bytes(b"admiration\nam\xffusement\n")
    with pytest.raises(DataFormatError, match=r"emotions\.txt:2: not valid UTF-8"):
        read_label_names(names)


@pytest.mark.parametrize(("lines", "message"), [
    # an unbalanced quote swallows the following lines: 4 lines would become 3 rows
    (['fine\t1\ta', '"broken start\t2\tb', 'next one"\t3\tc', 'last\t4\td'], r"bad\.tsv:2: .*spans lines 2-3"),
    (['fine\t1\ta', '"never closed\t2\tb', 'next\t3\tc'], r"bad\.tsv:2: .*(unbalanced|quote)"),
    (['fine\t1\ta', '"a\tb"\t2\tb'], r"bad\.tsv:2: .*tab"),
    (['fine\t1\ta', '"he said" hi\t2\tb'], r"bad\.tsv:2: .*quot"),
])
def test_unbalanced_quote_is_an_error_not_merged_rows(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=message):
        read_goemotions_tsv(path)


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "bom.tsv", [("\ufeffhello", "1", "a"), ("world", "2", "b")])
    assert read_goemotions_tsv(path)["text"].tolist() == ["hello", "world"]
    names = tmp_path / "emotions.txt"
    names.write_text("\ufeff" + "\n".join(read_label_names()) + "\n", encoding="utf-8")
    assert read_label_names(names) == read_label_names()


@pytest.mark.parametrize("tail", ["\n", "\n\n", "\n   \n\n", "\r\n"])
def test_blank_lines_at_the_end_are_ignored(tmp_path: Path, tail: str) -> None:
    path = tmp_path / "end.tsv"
    path.write_text("one\t1\ta\ntwo\t2\tb" + tail, encoding="utf-8", newline="")
    assert read_goemotions_tsv(path)["comment_id"].tolist() == ["a", "b"]


def test_blank_line_inside_the_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "gap.tsv"
    path.write_text("one\t1\ta\n\ntwo\t2\tb\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"gap\.tsv:2: blank line"):
        read_goemotions_tsv(path)
    names = tmp_path / "emotions.txt"
    names.write_text("admiration\n\namusement\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"emotions\.txt:2: blank line"):
        read_label_names(names)


def test_duplicate_comment_id_in_one_split_names_both_lines(tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "dup.tsv", [("one", "1", "a"), ("two", "2", "b"), ("three", "3", "a")])
    with pytest.raises(DataFormatError, match=r"dup\.tsv:3: duplicate comment id 'a' \(first at line 1\)"):
        read_goemotions_tsv(path)


def test_comment_id_in_two_splits_is_an_error(tiny_goemotions: Path) -> None:
    write_tsv(tiny_goemotions / "test.tsv", [("one", "1", "test_a1"), ("two", "2", "dev_a2")])
    with pytest.raises(DataFormatError, match=r"test\.tsv:2: comment id 'dev_a2' is also in .*dev\.tsv:2"):
        load_goemotions(tiny_goemotions)


def test_repeated_label_id_in_one_row_is_an_error(tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "rep.tsv", [("one", "1", "a"), ("two", "3,3,3,25", "b")])
    with pytest.raises(DataFormatError, match=r"rep\.tsv:2: label id 3 repeated in '3,3,3,25'"):
        read_goemotions_tsv(path)


def test_duplicate_emotion_name_names_both_lines(tmp_path: Path) -> None:
    names = tmp_path / "emotions.txt"
    names.write_text("admiration\namusement\nadmiration\n", encoding="utf-8")
    message = r"emotions\.txt:3: duplicate emotion name 'admiration' \(first at line 1\)"
    with pytest.raises(DataFormatError, match=message):
        read_label_names(names)

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from src_helpers.data.ekman import (
    EKMAN_LABELS,
    ekman_targets,
    fine_to_group,
    group_probabilities,
    load_ekman_mapping,
    multi_hot,
)
from src_helpers.data.goemotions import DataFormatError, read_label_names

NAMES = read_label_names()
GROUPS = fine_to_group(NAMES)
ID = {n: i for i, n in enumerate(NAMES)}


def test_every_fine_label_has_one_group() -> None:
    assert GROUPS.shape == (28,)
    assert EKMAN_LABELS[GROUPS[ID["neutral"]]] == "neutral"
    assert EKMAN_LABELS[GROUPS[ID["annoyance"]]] == "anger"
    assert EKMAN_LABELS[GROUPS[ID["curiosity"]]] == "surprise"
    assert EKMAN_LABELS[GROUPS[ID["nervousness"]]] == "fear"
    assert np.bincount(GROUPS, minlength=7).tolist() == [3, 1, 2, 12, 5, 4, 1]


@pytest.mark.parametrize(("labels", "primary", "groups"), [
    (["joy"], "joy", ["joy"]),
    (["admiration", "gratitude", "anger"], "joy", ["anger", "joy"]),       # majority wins
    (["surprise", "anger"], "anger", ["anger", "surprise"]),               # tie -> lowest fine id (anger=2)
    (["confusion", "disapproval"], "surprise", ["anger", "surprise"]),     # tie -> confusion=6 < 10
    (["neutral", "sadness"], "sadness", ["sadness", "neutral"]),           # neutral (27) loses every tie
    (["fear", "disgust"], "disgust", ["disgust", "fear"]),
    (["curiosity", "anger", "annoyance"], "anger", ["anger", "surprise"]),
])
def test_primary_group_and_all_groups(labels: list[str], primary: str, groups: list[str]) -> None:
    p, gs = ekman_targets([ID[n] for n in labels], GROUPS)
    assert EKMAN_LABELS[p] == primary
    assert [EKMAN_LABELS[g] for g in gs] == groups


def test_no_labels_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one label"):
        ekman_targets([], GROUPS)


def test_multi_hot() -> None:
    y = multi_hot([(0, 5), (6,)])
    assert y.tolist() == [[1, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1]]


def test_mapping_errors(tmp_path: Path) -> None:
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps({"happiness": ["joy"]}))
    with pytest.raises(ValueError, match="unknown Ekman groups"):
        load_ekman_mapping(bad)
    with pytest.raises(ValueError, match="two Ekman groups"):
        fine_to_group(NAMES, {"joy": ["joy"], "anger": ["joy"]})
    with pytest.raises(ValueError, match="without an Ekman group"):
        fine_to_group(NAMES, {"joy": ["joy"]})


@pytest.mark.parametrize(("content", "message"), [
    ('{"anger": ["anger"],\n "joy": ["joy",]}', r"m\.json:2:16: invalid JSON"),
    ('["anger", "joy"]', r"m\.json: expected a JSON object"),
    ('{"anger": "anger"}', r"m\.json: 'anger' must map to a list of emotion names"),
    ('{"anger": ["anger", 3]}', r"m\.json: 'anger' must map to a list of emotion names"),
])
def test_broken_mapping_file_names_file_and_place(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "m.json"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=message):
        load_ekman_mapping(bad)


def test_mapping_file_bom_and_bad_bytes(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"joy": ["joy"]}).encode())
    assert load_ekman_mapping(path) == {"joy": ["joy"]}
    path.write_bytes(b'{\n"joy": ["j\xf6y"]}')
    with pytest.raises(DataFormatError, match=r"m\.json:2: not valid UTF-8"):
        load_ekman_mapping(path)


def test_multi_hot_refuses_an_id_outside_the_classes() -> None:
    with pytest.raises(ValueError, match=r"group ids \[7\] outside the 7 classes"):
        multi_hot([(0,), (7, 1)])


def test_group_probabilities_read_ekman_groups_from_fine_labels() -> None:
    names = read_label_names()
    probs = np.zeros((2, len(names)))
    probs[0, names.index("annoyance")] = probs[0, names.index("anger")] = 0.5  # both in anger
    probs[0, names.index("joy")] = 0.2
    probs[1, names.index("neutral")] = 0.9
    multi = group_probabilities(probs, names, "multi")
    anger, joy, neutral = (EKMAN_LABELS.index(g) for g in ("anger", "joy", "neutral"))
    assert multi[0, anger] == pytest.approx(0.75)  # noisy-OR: 1 - 0.5 * 0.5
    assert multi[0, joy] == pytest.approx(0.2) and multi[1, neutral] == pytest.approx(0.9)
    assert multi[1].sum() == pytest.approx(0.9)
    single = group_probabilities(probs, names, "single")
    np.testing.assert_allclose(single.sum(1), 1, rtol=1e-6)
    assert single[0, anger] == pytest.approx(0.5 / 0.7) and single.argmax(1).tolist() == [anger, neutral]


def test_group_probabilities_refuse_a_wrong_shape_or_target() -> None:
    names = read_label_names()
    with pytest.raises(ValueError, match=r"shape \(2, 7\): expected one column per fine label \(28\)"):
        group_probabilities(np.zeros((2, 7)), names, "multi")
    with pytest.raises(ValueError, match="target must be 'single' or 'multi', got 'both'"):
        group_probabilities(np.zeros((1, 28)), names, "both")

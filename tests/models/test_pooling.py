from __future__ import annotations

import pytest
import torch

from src_helpers.models.pooling import last_real, length_mask, pool, reverse_padded


def test_masked_pooling_ignores_padding() -> None:
    out = torch.tensor([[[1.0], [3.0], [100.0]], [[2.0], [-50.0], [-50.0]]])
    lengths = torch.tensor([2, 1])
    last = torch.tensor([[9.0], [8.0]])
    assert pool(out, last, lengths, "mean").tolist() == [[2.0], [2.0]]
    assert pool(out, last, lengths, "max").tolist() == [[3.0], [2.0]]
    assert pool(out, last, lengths, "meanmax").tolist() == [[2.0, 3.0], [2.0, 2.0]]
    assert pool(out, last, lengths, "last").tolist() == [[9.0], [8.0]]
    assert last_real(out, lengths).tolist() == [[3.0], [2.0]]
    assert length_mask(lengths, 3).tolist() == [[True, True, False], [True, False, False]]
    with pytest.raises(ValueError, match="pooling"):
        pool(out, last, lengths, "cls")


def test_reverse_padded_keeps_padding_at_the_end() -> None:
    x = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]).unsqueeze(-1)
    lengths = torch.tensor([3, 2])
    assert reverse_padded(x, lengths).squeeze(-1).tolist() == [[3, 2, 1, 0], [5, 4, 0, 0]]
    assert torch.equal(reverse_padded(reverse_padded(x, lengths), lengths), x)

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from emovec import MeanFrom, TokenBatch, last_token


def test_left_padding_and_positions():
    batch = TokenBatch.from_ids([[5, 6, 7], [8]], pad_id=0, side="left")
    assert batch.input_ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert batch.position_ids().tolist() == [[0, 1, 2], [0, 0, 0]]


def test_empty_rows_refused():
    with pytest.raises(ValueError, match="empty text"):
        TokenBatch.from_ids([[1], []], pad_id=0)


@given(st.lists(st.integers(1, 80), min_size=1, max_size=5), st.integers(0, 60))
def test_mean_from_is_padding_invariant(lengths, start):
    torch.manual_seed(0)
    width = max(lengths)
    acts = torch.randn(len(lengths), width, 3, dtype=torch.float64)
    mask = torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]
    reducer = MeanFrom(start, min_tokens=4)
    pooled = reducer(acts, mask)
    for i, n in enumerate(lengths):
        alone = reducer(acts[i : i + 1, :n], mask[i : i + 1, :n])
        torch.testing.assert_close(pooled[i : i + 1], alone)
        first = int(reducer.first(torch.tensor([n]))[0])
        torch.testing.assert_close(alone[0], acts[i, first:n].mean(0))
        assert first <= start and (n == 1 or first >= min(start, 1))


def test_last_token_reads_each_rows_end():
    acts = torch.arange(12.0).reshape(2, 3, 2)
    mask = torch.tensor([[True, True, True], [True, False, False]])
    assert last_token(acts, mask).tolist() == [[4.0, 5.0], [6.0, 7.0]]

import itertools

import pytest
import torch

from emovec import Site
from emovec.extract import (
    Item,
    NeutralStatistics,
    RowMoments,
    StoryStatistics,
    TokenMoments,
    bucket,
    capture_stream,
)

SITES = [Site(0), Site(2)]


def _capture(backend, texts, **kwargs):
    items = [Item(str(i), t) for i, t in enumerate(texts)]
    out = {}
    for got, captured in capture_stream(backend, items, SITES, RowMoments(3), **kwargs):
        for row, item in enumerate(got):
            out[item.id] = {s: captured[s][row] for s in SITES}
    return out


def test_story_mean_is_the_same_alone_and_in_a_padded_batch(backend):
    short = "She put the letter on the table and waited by the window."
    longer = [short + " " + "The rain kept falling on the road outside. " * k for k in (2, 4)]
    alone = _capture(backend, [short])["0"]
    together = _capture(backend, [longer[1], short, longer[0]], batch_tokens=10_000)["1"]
    for site in SITES:
        torch.testing.assert_close(together[site], alone[site], atol=1e-5, rtol=0)


def test_batching_does_not_change_per_text_results(backend):
    texts = [f"Note {i}: " + "the train left the station early " * (1 + i % 4) for i in range(7)]
    one_batch = _capture(backend, texts, batch_tokens=100_000)
    small = _capture(backend, texts, batch_tokens=40, window=3)
    assert one_batch.keys() == small.keys()
    for key in one_batch:
        for site in SITES:
            torch.testing.assert_close(small[key][site], one_batch[key][site], atol=1e-5, rtol=0)


def test_bucket_sorts_by_length_and_respects_the_budget():
    lengths = [9, 3, 3, 7, 1, 30, 4]
    batches = bucket(lengths, batch_tokens=12)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        width = max(lengths[i] for i in b)
        assert len(b) * width <= 12 or len(b) == 1
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat)
    assert bucket(lengths, batch_tokens=12) == batches  # deterministic


def test_capture_streams_lazily_from_an_endless_source(backend):
    endless = (Item(str(i), f"Line {i} of an endless log file.") for i in itertools.count())
    stream = capture_stream(backend, endless, SITES, RowMoments(1), window=4, batch_tokens=64)
    first = list(itertools.islice(stream, 2))
    assert sum(len(items) for items, _ in first) <= 8


def test_row_moments_mean_norm_and_count():
    acts = torch.randn(2, 12, 5)
    mask = torch.tensor([[True] * 12, [True] * 3 + [False] * 9])
    packed = RowMoments(start=2)(acts, mask)
    # row 0: tokens 2..11; row 1 (3 tokens: clipped, but never position 0): tokens 1..2
    for row, sel in ((0, slice(2, 12)), (1, slice(1, 3))):
        torch.testing.assert_close(packed[row, :5], acts[row, sel].mean(0))
        torch.testing.assert_close(packed[row, 5], acts[row, sel].norm(dim=-1).sum())
        assert packed[row, 6] == sel.stop - sel.start


def test_token_moments_match_the_covariance_of_all_selected_tokens():
    torch.manual_seed(0)
    stats = NeutralStatistics([Site(0)], 5, mode="token")
    chunks = []
    for width in (6, 9):
        acts = torch.randn(3, width, 5, dtype=torch.float64).float() * 3 + 1
        mask = torch.ones(3, width, dtype=torch.bool)
        mask[1, width - 2 :] = False
        stats.add({Site(0): TokenMoments(start=2)(acts, mask)})
        lengths = mask.sum(1)
        for r in range(3):
            first = min(2, max(int(lengths[r]) - 8, 1))
            chunks.append(acts[r, first : int(lengths[r])])
    rows = torch.cat(chunks).double()
    torch.testing.assert_close(
        stats.covariances[Site(0)].covariance(), rows.T.cov(), atol=1e-4, rtol=1e-4
    )
    torch.testing.assert_close(
        stats.residual_norms()[Site(0)], float(rows.norm(dim=-1).mean()), atol=1e-4, rtol=1e-5
    )


@pytest.mark.parametrize("mode", ["dialogue", "token"])
def test_statistics_state_does_not_grow_with_the_number_of_texts(mode):
    def state_size(n_batches: int) -> int:
        torch.manual_seed(0)
        story = StoryStatistics(SITES, 16, ["calm", "afraid", "happy"])
        neutral = NeutralStatistics(SITES, 16, mode=mode)
        for _ in range(n_batches):
            acts, mask = torch.randn(4, 12, 16), torch.ones(4, 12, dtype=torch.bool)
            story.add(
                ["calm", "afraid", "happy", "calm"], {s: RowMoments(2)(acts, mask) for s in SITES}
            )
            neutral.add({s: neutral.reducer(2)(acts, mask) for s in SITES})
        state = story.state_dict() | neutral.state_dict()
        return sum(t.numel() * t.element_size() for t in state.values())

    assert state_size(1) == state_size(5)


def test_fixed_emotion_list_refuses_other_labels():
    story = StoryStatistics(SITES, 4, ["calm"])
    with pytest.raises(ValueError, match="'angry' is not in the emotion list"):
        story.register("angry")


def test_progress_goes_to_stderr(backend, capsys):
    items = [Item(str(i), f"Short line number {i}.") for i in range(3)]
    list(capture_stream(backend, items, SITES, RowMoments(1), progress="stories", total=3))
    captured = capsys.readouterr()
    assert "stories" in captured.err and "3/3" in captured.err and captured.out == ""

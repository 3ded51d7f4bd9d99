import pytest
import torch

from emovec.extract import CheckpointMismatchError, extract_vectors

SETTINGS = dict(start=4, batch_tokens=100, window=6, progress=False)


class Killed(Exception):
    pass


def _kill_after(monkeypatch, backend, n_batches: int) -> None:
    """Make the backend raise on its (n+1)-th forward, like a run killed mid-way."""
    real, calls = backend.capture, [0]

    def capture(*args, **kwargs):
        calls[0] += 1
        if calls[0] > n_batches:
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(backend, "capture", capture)


@pytest.fixture
def stories(stories):
    return stories[::2]  # 12 stories, every emotion: a handful of batches


@pytest.fixture
def neutral(neutral):
    return neutral[:4]


@pytest.fixture
def uninterrupted(backend, stories, neutral):
    return extract_vectors(backend, stories, neutral, **SETTINGS)


def _batches(backend, stories, neutral, monkeypatch) -> int:
    real, calls = backend.capture, [0]

    def capture(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(backend, "capture", capture)
        extract_vectors(backend, stories, neutral, **SETTINGS)
    return calls[0]


@pytest.mark.parametrize(("kill_after", "every"), [(3, 2), (-1, 1)])
def test_killed_and_resumed_run_matches_an_uninterrupted_one(
    backend, stories, neutral, uninterrupted, tmp_path, monkeypatch, kill_after, every
):
    if kill_after < 0:  # in the neutral phase: one batch before the end
        kill_after = _batches(backend, stories, neutral, monkeypatch) - 1
    ckpt = tmp_path / "run.ckpt"
    with monkeypatch.context() as patch:
        _kill_after(patch, backend, kill_after)
        with pytest.raises(Killed):
            extract_vectors(
                backend, stories, neutral, checkpoint=ckpt, checkpoint_every=every, **SETTINGS
            )
    assert ckpt.exists() == (kill_after >= every)
    resumed = extract_vectors(
        backend, stories, neutral, checkpoint=ckpt, checkpoint_every=every, **SETTINGS
    )
    assert resumed.emotions == uninterrupted.emotions
    torch.testing.assert_close(resumed.vectors, uninterrupted.vectors, atol=1e-6, rtol=0)
    assert resumed.metadata["corpus"] == uninterrupted.metadata["corpus"]
    for key in ("residual_norms", "neutral_pcs_removed"):
        assert resumed.metadata[key] == pytest.approx(uninterrupted.metadata[key], abs=1e-6)


def test_resume_skips_finished_work(backend, stories, neutral, tmp_path, monkeypatch):
    ckpt = tmp_path / "run.ckpt"
    extract_vectors(backend, stories, neutral, checkpoint=ckpt, **SETTINGS)
    _kill_after(monkeypatch, backend, 0)  # any forward now fails: nothing is left to do
    again = extract_vectors(backend, stories, neutral, checkpoint=ckpt, **SETTINGS)
    assert again.metadata["corpus"]["n_stories"] == len(stories)


def test_a_checkpoint_from_other_settings_is_refused(backend, stories, neutral, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    first, other = stories[::2], stories[1::2]
    extract_vectors(backend, first, None, checkpoint=ckpt, **SETTINGS)
    with pytest.raises(CheckpointMismatchError, match="start: 4 then, 5 now"):
        extract_vectors(backend, first, None, checkpoint=ckpt, **{**SETTINGS, "start": 5})
    with pytest.raises(CheckpointMismatchError, match="corpus content: sha256"):
        extract_vectors(backend, other, None, checkpoint=ckpt, **SETTINGS)
    # resume=False starts over and overwrites it
    fresh = extract_vectors(backend, other, None, checkpoint=ckpt, resume=False, **SETTINGS)
    assert fresh.metadata["corpus"]["n_stories"] == len(other)


def test_a_corrupt_checkpoint_gives_a_clear_error(backend, stories, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    ckpt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match=r"Cannot resume from .*run\.ckpt.*--force"):
        extract_vectors(backend, stories, checkpoint=ckpt, **SETTINGS)


def _interrupted(backend, stories, neutral, ckpt, monkeypatch, after: int = 3) -> None:
    with monkeypatch.context() as patch:
        _kill_after(patch, backend, after)
        with pytest.raises(Killed):
            extract_vectors(
                backend, stories, neutral, checkpoint=ckpt, checkpoint_every=1, **SETTINGS
            )
    assert ckpt.exists()


def test_a_resume_after_one_story_was_edited_is_refused(
    backend, stories, neutral, tmp_path, monkeypatch
):
    # Same ids, one changed text: the old checkpoint must not be mixed with the new corpus.
    ckpt = tmp_path / "run.ckpt"
    _interrupted(backend, stories, neutral, ckpt, monkeypatch)
    edited = [dict(s) for s in stories]
    edited[0]["text"] += " And then the rain stopped."
    _kill_after(monkeypatch, backend, 0)  # the refusal must come before any forward
    with pytest.raises(CheckpointMismatchError, match=r"corpus content: sha256 \w+\.\.\. \(12"):
        extract_vectors(backend, edited, neutral, checkpoint=ckpt, checkpoint_every=1, **SETTINGS)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (dict(stories=slice(0, 8)), "corpus content"),  # e.g. another --per-emotion
        (dict(neutral=slice(0, 2)), "corpus content"),  # e.g. another --max-neutral
        (dict(sites=[0]), "sites"),
        (dict(max_tokens=12), "token_limit"),
        (dict(pca_mode="token"), "pca_mode"),
        (dict(batch_tokens=60), "batch_tokens"),
    ],
)
def test_a_resume_with_any_changed_setting_is_refused(
    backend, stories, neutral, tmp_path, monkeypatch, change, named
):
    ckpt = tmp_path / "run.ckpt"
    _interrupted(backend, stories, neutral, ckpt, monkeypatch)
    args = {"stories": stories, "neutral": neutral, **SETTINGS}
    for key, value in change.items():
        args[key] = args[key][value] if isinstance(value, slice) else value
    _kill_after(monkeypatch, backend, 0)
    with pytest.raises(CheckpointMismatchError, match=rf"{named}: .* then, .* now.*--force"):
        extract_vectors(backend, checkpoint=ckpt, checkpoint_every=1, **args)


def test_a_one_shot_corpus_cannot_be_checkpointed(backend, stories, tmp_path):
    with pytest.raises(ValueError, match="reads the corpus twice.*not a one-shot iterator"):
        extract_vectors(backend, iter(stories), None, checkpoint=tmp_path / "c", **SETTINGS)
    assert not (tmp_path / "c").exists()

"""Calibration: statistics, the file, the vector fingerprint, and measurement through the seam."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from emovec import Site, TokenBatch
from emovec.monitor import (
    Calibration,
    Monitor,
    calibrate,
    calibration_from_readings,
    calibration_path,
    vectors_fingerprint,
)
from emovec.ops import scores

from . import EMOTIONS, random_bundle, single_thread

SITES = (Site(0), Site(1), Site(2))


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from single_thread()


@given(st.integers(2, 40), st.integers(0, 10_000))
def test_statistics_match_numpy(n, seed):
    rng = np.random.default_rng(seed)
    pile = rng.normal(size=(n, 2, 3)) * rng.uniform(0.1, 5, size=(1, 2, 3))
    cal = calibration_from_readings(
        torch.from_numpy(pile), ["a", "b", "c"], [Site(0), Site(4)], levels=[5.0, 50.0, 99.0]
    )
    np.testing.assert_allclose(cal.mean.numpy(), pile.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cal.std.numpy(), pile.std(0, ddof=1), rtol=1e-10)
    np.testing.assert_allclose(
        cal.percentiles.numpy(), np.percentile(pile, [5, 50, 99], axis=0), rtol=1e-10, atol=1e-12
    )
    z = cal.z(torch.from_numpy(pile))
    np.testing.assert_allclose(z.mean(0).numpy(), 0, atol=1e-9)


def test_file_round_trip_is_exact_and_atomic(tmp_path):
    pile = torch.randn(30, 3, len(EMOTIONS), generator=torch.Generator().manual_seed(0))
    vectors = random_bundle()
    meta = {"vectors_sha256": vectors_fingerprint(vectors, EMOTIONS, SITES)}
    cal = calibration_from_readings(pile, EMOTIONS, SITES, metadata=meta)
    path = cal.save(tmp_path / "v.calibration.json")
    back = Calibration.load(path)
    for name in ("mean", "std", "percentiles"):
        assert torch.equal(getattr(back, name), getattr(cal, name))
    assert (back.emotions, back.sites, back.levels, back.count) == (
        cal.emotions,
        cal.sites,
        cal.levels,
        cal.count,
    )
    assert back.metadata["path"] == str(path)
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind
    assert back.percentile("afraid", "resid_post.1", 95.0) == pytest.approx(
        float(torch.quantile(pile[:, 1, 1].double(), 0.95))
    )
    assert calibration_path(tmp_path / "v.safetensors") == tmp_path / "v.calibration.json"


def test_select_reorders_and_the_fingerprint_travels_with_the_vectors():
    vectors = random_bundle()
    pile = torch.randn(20, 3, len(EMOTIONS), generator=torch.Generator().manual_seed(2))
    meta = {"vectors_sha256": vectors_fingerprint(vectors, EMOTIONS, SITES)}
    cal = calibration_from_readings(pile, EMOTIONS, SITES, metadata=meta)
    sub = cal.select(["panicked", "calm"], [Site(2), Site(0)])
    assert torch.equal(sub.mean, cal.mean[[2, 0]][:, [5, 0]])
    assert torch.equal(sub.percentiles, cal.percentiles[:, [2, 0]][:, :, [5, 0]])
    cal.check(vectors)  # same vectors: fine
    # A bigger bundle holding the same vectors is fine (the same seed draws the same first rows);
    # one vector changed is not.
    bigger = random_bundle((*EMOTIONS, "serene"))
    assert torch.equal(bigger.vectors[:6], vectors.vectors)
    cal.check(bigger)
    changed = random_bundle()
    changed.vectors[3, 1] = -changed.vectors[3, 1]
    with pytest.raises(ValueError, match="measured with other vectors"):
        cal.check(changed)
    with pytest.raises(ValueError, match="covers"):
        cal.check(random_bundle(EMOTIONS[:3]))
    with pytest.raises(ValueError, match=r"no baseline for 'serene'"):
        cal.select(["serene"], [Site(0)])


def test_corrupt_or_missing_files_are_named(tmp_path):
    bad = tmp_path / "c.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"c\.json is not a readable emovec calibration"):
        Calibration.load(bad)
    bad.write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="not a readable emovec calibration"):
        Calibration.load(bad)
    with pytest.raises(ValueError, match="Cannot read calibration"):
        Calibration.load(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="at least 2 tokens"):
        calibration_from_readings(torch.zeros(1, 1, 1), ["a"], [Site(0)])


def test_calibrate_reads_prompts_replies_and_texts(tiny_backends):
    backend = tiny_backends["hf"]
    vectors = random_bundle()
    prompts = ["What is two plus two?", "Name a colour."]
    texts = ["The meeting is on Tuesday at noon.", "Water boils at one hundred degrees."]
    cal = calibrate(
        backend,
        vectors,
        prompts=prompts,
        texts=texts,
        max_new_tokens=4,
        chat=False,
        batch_size=1,
        progress=False,
    )
    # Monitor readings of the prompts' generations plus the texts' tokens, from position 1.
    monitor = Monitor(vectors, sites=list(SITES))
    pile = []
    for prompt in prompts:
        backend.generate([prompt], max_new_tokens=4, observers=[monitor], stop_at_eos=True)
        pile.append(monitor.readings(0, from_position=1))
    for text in texts:
        ids = torch.tensor([backend.encode(text)])
        acts = backend.capture(TokenBatch(ids, torch.ones_like(ids)), list(SITES))
        pile.append(torch.stack([scores(acts[s][0, 1:], vectors.at(s)) for s in SITES], dim=1))
    want = torch.cat(pile).double()
    assert cal.count == want.shape[0]
    torch.testing.assert_close(cal.mean, want.mean(0), atol=1e-5, rtol=0)
    torch.testing.assert_close(cal.std, want.std(0), atol=1e-5, rtol=0)
    assert cal.metadata["vectors_sha256"] == vectors_fingerprint(vectors, EMOTIONS, SITES)
    Monitor(vectors, calibration=cal)  # accepted by a monitor on the same vectors


def test_calibrate_refuses_empty_input(tiny_backends):
    with pytest.raises(ValueError, match="needs neutral prompts or texts"):
        calibrate(tiny_backends["hf"], random_bundle(), prompts=[], texts=[], progress=False)

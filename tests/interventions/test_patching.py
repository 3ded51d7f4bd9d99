"""Causal patching: properties that hold exactly on any model."""

import pytest
import torch

from emovec import Site
from emovec.interventions import KL, LogitDiff, Patch, next_token_logits, patching
from tests.conftest import ADAPTERS

SOURCE = "The old dog slept by the warm fire all night"
TARGET = "The old dog slept by the cold door all day"  # same prefix, different last 4 words


def _shared_prefix(backend) -> int:
    a, b = backend.encode(SOURCE), backend.encode(TARGET)
    assert len(a) == len(b)
    k = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
    return len(a) - k  # tokens from the first difference to the end


def test_patching_a_prompt_into_itself_is_the_identity(tiny_backends, tiny_bundle):
    backend = tiny_backends["hf"]
    batch = backend.tokenize([TARGET, "Another one"])
    edits = Patch([TARGET, "Another one"], "all", [0, 1, 2], last=2).edits(
        tiny_bundle, backend, batch
    )
    torch.testing.assert_close(backend.run(batch, edits), backend.run(batch), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_full_span_patch_of_the_differing_suffix_reproduces_the_source(
    tiny_backends, tiny_bundle, layer
):
    # Source and target share a prefix; everything after `layer` depends only on the residual
    # stream at that site, so replacing the whole residual (span = every direction) on the
    # differing tokens makes every later computation the source's: all logits equal the source's.
    backend = tiny_backends["hf"]
    k = _shared_prefix(backend)
    target = backend.tokenize([TARGET])
    edits = Patch(SOURCE, "full", layer, last=k).edits(tiny_bundle, backend, target)
    source_logits = backend.run(backend.tokenize([SOURCE]))
    torch.testing.assert_close(backend.run(target, edits), source_logits, atol=1e-4, rtol=1e-4)
    # mutation check: patching only the emotion span (6 of 64 directions) does not
    emotion_only = Patch(SOURCE, "all", layer, last=k).edits(tiny_bundle, backend, target)
    assert (backend.run(target, emotion_only) - source_logits).abs().max() > 1e-3
    # and patching one token too few leaves a difference
    short = Patch(SOURCE, "full", layer, last=k - 1).edits(tiny_bundle, backend, target)
    assert (backend.run(target, short) - source_logits).abs().max() > 1e-3


def test_last_site_patch_reproduces_source_logits_at_patched_positions_only(
    tiny_backends, tiny_bundle
):
    # At the final site the logits of a position depend only on that position's residual.
    backend = tiny_backends["hf"]
    src, tgt = backend.tokenize(["a completely different text here"]), backend.tokenize([TARGET])
    edits = Patch(src, "full", 2, last=3).edits(tiny_bundle, backend, tgt)
    got, source_logits = backend.run(tgt, edits), backend.run(src)
    torch.testing.assert_close(got[0, -3:], source_logits[0, -3:], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got[0, :-3], backend.run(tgt)[0, :-3])


def test_patching_table_restores_fully_with_the_full_span(tiny_backends, tiny_bundle):
    backend = tiny_backends["hf"]
    k = _shared_prefix(backend)
    result = patching(
        backend, tiny_bundle, SOURCE, TARGET, metric=KL(), emotions="full", last=k, progress=False
    )
    assert result.sites == ["resid_post.0", "resid_post.1", "resid_post.2"]
    assert result.target == pytest.approx(0.0, abs=1e-6)
    assert result.source > 0
    for value, restored in zip(result.patched, result.restored, strict=True):
        assert value == pytest.approx(result.source, rel=1e-3)
        assert restored == pytest.approx(1.0, abs=1e-3)
    partial = patching(
        backend,
        tiny_bundle,
        SOURCE,
        TARGET,
        metric=KL(),
        emotions=["calm", "hostile"],
        last=k,
        progress=False,
    )
    assert all(r < 0.9 for r in partial.restored)
    assert partial.settings["subspace_rank"]["resid_post.1"] == 2


def test_patching_results_save_json_and_plot(tiny_backends, tiny_bundle, tmp_path):
    backend = tiny_backends["hf"]
    result = patching(
        backend,
        tiny_bundle,
        [SOURCE],
        [TARGET],
        metric=LogitDiff(" warm", " cold"),
        sites=[1],
        last=2,
        progress=False,
    )
    paths = result.save(tmp_path)
    assert {p.name for p in paths} == {"patching.json", "patching.png", "patching.svg"}
    assert "resid_post.1" in result.summary()


@pytest.mark.parametrize("adapter", ADAPTERS[1:])
def test_patching_identical_across_adapters(tiny_backends, tiny_bundle, adapter):
    ref = tiny_backends["hf"]
    batch = ref.tokenize([TARGET])
    expected = next_token_logits(
        ref, batch, Patch(SOURCE, "all", [1], last=4).edits(tiny_bundle, ref, batch)
    )
    other = tiny_backends[adapter]
    got = next_token_logits(
        other, batch, Patch(SOURCE, "all", [1], last=4).edits(tiny_bundle, other, batch)
    )
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert Site(1) in {
        e.site for e in Patch(SOURCE, "all", [1], last=4).edits(tiny_bundle, other, batch)
    }

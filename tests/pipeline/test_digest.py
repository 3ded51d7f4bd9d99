"""Stage keys follow the vectors' content, not the time the bundle was written."""

import torch

from emovec import Site
from emovec.pipeline import bundle_digest
from emovec.vectors import EmotionVectors


def bundle(values: torch.Tensor, created: str) -> EmotionVectors:
    meta = {"created": created, "recipe": {"start": 50}}
    return EmotionVectors(values, ("calm", "afraid"), (Site(0), Site(1)), meta)


def test_same_vectors_made_twice_have_one_digest_and_any_change_shows():
    v = torch.randn(2, 2, 4)
    first = bundle_digest(bundle(v, "2026-01-01T00:00:00+00:00"))
    assert bundle_digest(bundle(v.clone(), "2026-06-01T12:00:00+00:00")) == first
    nudged = v.clone()
    nudged[1, 0, 2] += 1e-6
    assert bundle_digest(bundle(nudged, "2026-01-01T00:00:00+00:00")) != first
    other = EmotionVectors(v, ("calm", "afraid"), (Site(0), Site(1)), {"recipe": {"start": 8}})
    assert bundle_digest(other) != first

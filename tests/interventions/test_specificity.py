"""Specificity matrix: exact at the steering site, z-scoring, plots."""

import torch

from emovec.interventions import specificity
from emovec.ops import cosine_matrix

PROMPTS = ["the cat sat on the mat", "we met at noon to discuss the plan"]


def test_read_at_the_steering_site_the_matrix_is_strength_times_cosines(tiny_backends, tiny_bundle):
    backend = tiny_backends["hf"]
    result = specificity(
        backend,
        tiny_bundle,
        PROMPTS,
        steer_site=1,
        read_sites=[1],
        strength=0.3,
        zscore=False,
        progress=False,
    )
    vs = tiny_bundle.at(1)
    expected = 0.3 * tiny_bundle.residual_norm(1) * cosine_matrix(vs, vs)
    torch.testing.assert_close(torch.tensor(result.matrix[0]), expected, atol=1e-4, rtol=1e-4)
    assert result.diagonal_hits() == [1.0]


def test_zscore_divides_by_the_probe_spread_and_later_sites_are_read(
    tiny_backends, tiny_bundle, tmp_path
):
    backend = tiny_backends["hf"]
    raw = specificity(
        backend,
        tiny_bundle,
        PROMPTS,
        emotions=["calm", "hostile"],
        steer_site=0,
        zscore=False,
        progress=False,
    )
    z = specificity(
        backend,
        tiny_bundle,
        PROMPTS,
        emotions=["calm", "hostile"],
        steer_site=0,
        zscore=True,
        progress=False,
    )
    assert raw.read_sites == ["resid_post.0", "resid_post.1", "resid_post.2"]
    for k, site in enumerate(z.read_sites):
        spread = torch.tensor(z.settings["probe_spread"][site])
        torch.testing.assert_close(
            torch.tensor(z.matrix[k]),
            torch.tensor(raw.matrix[k]) / spread[None],
            atol=1e-5,
            rtol=1e-4,
        )
    paths = z.save(tmp_path)
    assert {p.name for p in paths} == {"specificity.json", "specificity.png", "specificity.svg"}


def test_probes_in_another_order_pair_by_name(tiny_backends, tiny_bundle):
    backend = tiny_backends["hf"]
    steered, probes = ["hostile", "calm"], ["calm", "afraid", "hostile"]
    result = specificity(
        backend,
        tiny_bundle,
        PROMPTS,
        emotions=steered,
        probes=probes,
        steer_site=1,
        read_sites=[1],
        strength=0.3,
        zscore=False,
        progress=False,
    )
    a = torch.stack([tiny_bundle.vector(e, 1) for e in steered])
    b = torch.stack([tiny_bundle.vector(e, 1) for e in probes])
    expected = 0.3 * tiny_bundle.residual_norm(1) * cosine_matrix(a, b)
    torch.testing.assert_close(torch.tensor(result.matrix[0]), expected, atol=1e-4, rtol=1e-4)
    assert result.diagonal_hits() == [1.0]
    zero = specificity(
        backend,
        tiny_bundle,
        PROMPTS,
        emotions=steered,
        steer_site=1,
        read_sites=[1, 2],
        strength=0.0,
        progress=False,
    )
    assert torch.tensor(zero.matrix).abs().max() < 1e-5

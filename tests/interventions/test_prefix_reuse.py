"""Starting a forward part-way (`capture_from`) and the sweep that shares the blocks before its site."""

import warnings

import pytest
import torch

from emovec import Edit, Site
from emovec._batch import TokenBatch
from emovec.interventions._runs import sweep
from tests.conftest import tiny_llama, wrap

ROWS = [[5, 9, 14, 3, 22, 7], [8, 2, 30], [11, 12, 13, 14, 15, 16, 17, 18], [40, 41]]


def layer_list(backend) -> torch.nn.ModuleList:
    """The decoder-layer list the model's forward loops over (the bridge's lives in its HF model)."""
    return backend.layers if hasattr(backend, "layers") else backend._layer_list()


def _unit(d: int, seed: int) -> torch.Tensor:
    v = torch.randn(d, generator=torch.Generator().manual_seed(seed))
    return v / v.norm()


class LayerCalls:
    """Counts calls of one decoder layer of the tiny Llama (whoever sits in its slot)."""

    def __init__(self, layer: torch.nn.Module):
        self.layer, self.calls = layer, 0

    def __enter__(self):
        self.handle = self.layer.register_forward_pre_hook(lambda *_: self._hit())
        return self

    def _hit(self) -> None:
        self.calls += 1

    def __exit__(self, *_):
        self.handle.remove()


@pytest.mark.parametrize("adapter", ["hf", "transformer_lens"])
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("start", [0, 1, 2])
def test_capture_from_equals_the_full_forward(tiny_backends, adapter, side, start):
    backend = tiny_backends[adapter]
    batch = TokenBatch.from_ids(ROWS, pad_id=0, side=side)
    site = Site(start)
    later = [Site(layer) for layer in range(start, backend.n_layers)] + [
        Site(layer, "resid_pre") for layer in range(start + 1, backend.n_layers)
    ]
    edits = [
        Edit.steer(site, _unit(backend.d_model, 1), 2.0),
        Edit.clamp(Site(backend.n_layers - 1), _unit(backend.d_model, 2), 0.5),
    ]
    hidden = backend.capture(batch, [site])[site]
    full = backend.capture(batch, later, edits=edits)
    resumed = backend.capture_from(batch, site, hidden, later, edits=edits)
    assert set(resumed) == set(full)
    for s in later:
        real = batch.attention_mask.bool()
        torch.testing.assert_close(resumed[s][real], full[s][real], atol=1e-5, rtol=1e-5)
    # the steering at the start site bites: without it the later residuals differ
    plain = backend.capture_from(batch, site, hidden, [Site(backend.n_layers - 1)])
    assert not torch.allclose(plain[Site(backend.n_layers - 1)], full[Site(backend.n_layers - 1)])


@pytest.mark.parametrize("adapter", ["hf", "transformer_lens"])
def test_the_blocks_before_the_start_do_not_run_and_are_put_back(tiny_backends, adapter):
    backend = tiny_backends[adapter]
    batch = TokenBatch.from_ids(ROWS, pad_id=0)
    originals = list(layer_list(backend))
    hidden = backend.capture(batch, [Site(1)])[Site(1)]
    with LayerCalls(originals[0]) as first, LayerCalls(originals[2]) as third:
        backend.capture_from(batch, Site(1), hidden, [Site(2)])
    assert (first.calls, third.calls) == (0, 1)
    assert list(layer_list(backend)) == originals

    def broken(x, mask):
        raise RuntimeError("reducer failed")

    with pytest.raises(RuntimeError, match="reducer failed"):
        backend.capture_from(batch, Site(1), hidden, [Site(2)], broken)
    assert list(layer_list(backend)) == originals


def test_bad_starts_are_refused_with_the_fix(tiny_backends):
    backend = tiny_backends["hf"]
    batch = TokenBatch.from_ids(ROWS, pad_id=0)
    hidden = backend.capture(batch, [Site(1)])[Site(1)]
    with pytest.raises(ValueError, match="capture\\(batch"):
        backend.capture_from(batch, Site(1), hidden[:2], [Site(2)])
    with pytest.raises(ValueError, match="before the start"):
        backend.capture_from(batch, Site(1), hidden, [Site(0)])
    with pytest.raises(ValueError, match="before the start"):
        backend.capture_from(batch, Site(1), hidden, [Site(1, "resid_pre")])
    edit = Edit.steer(Site(0), _unit(backend.d_model, 0), 1.0)
    with pytest.raises(ValueError, match="before the start"):
        backend.capture_from(batch, Site(1), hidden, [Site(2)], edits=[edit])
    with pytest.raises(ValueError, match="resid_post"):
        backend.capture_from(batch, Site(1, "resid_pre"), hidden, [Site(2)])


def test_adapters_that_cannot_start_part_way_say_so(tiny_backends):
    backend = tiny_backends["nnsight"]
    assert backend.resumable is False
    batch = TokenBatch.from_ids(ROWS, pad_id=0)
    hidden = torch.zeros(*batch.input_ids.shape, backend.d_model)
    with pytest.raises(NotImplementedError, match="use capture"):
        backend.capture_from(batch, Site(1), hidden, [Site(2)])


def _conditions(d: int, site: Site):
    steer = [((site, _unit(d, k), a),) for k, a in enumerate([1.5, -1.5, 3.0, 0.7])]
    return [(), *steer]


def _probability_of_token_7(logits: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    return torch.stack([logits.softmax(-1)[:, 7], logits.logsumexp(-1)], dim=-1)


@pytest.mark.parametrize("adapter", ["hf", "transformer_lens"])
@pytest.mark.parametrize("site", [Site(1), Site(2, "resid_pre"), Site(0)])
@pytest.mark.parametrize("masked", [False, True])
def test_sweep_sharing_the_prefix_equals_the_plain_sweep(tiny_backends, adapter, site, masked):
    backend = tiny_backends[adapter]
    conditions = _conditions(backend.d_model, site)
    masks = [[i % 2 == 0 for i in range(len(r))] for r in ROWS] if masked else None
    reference = torch.zeros(len(ROWS), 1)
    kwargs = dict(masks=masks, batch_tokens=16)
    with LayerCalls(layer_list(backend)[0]) as shared:
        fast = sweep(backend, ROWS, conditions, _probability_of_token_7, reference, **kwargs)
    with LayerCalls(layer_list(backend)[0]) as plain:
        slow = sweep(
            backend,
            ROWS,
            conditions,
            _probability_of_token_7,
            reference,
            reuse_prefix=False,
            **kwargs,
        )
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    assert fast.shape == (len(conditions), len(ROWS), 2)
    assert (
        shared.calls < plain.calls
    )  # the first block ran once per batch of rows, not per condition
    assert not torch.allclose(fast[0], fast[3])  # the conditions differ


def test_sweep_with_sites_in_two_places_runs_full_forwards(tiny_backends):
    backend = tiny_backends["hf"]
    d = backend.d_model
    conditions = [(), ((Site(0), _unit(d, 0), 2.0),), ((Site(2), _unit(d, 1), 2.0),)]
    reference = torch.zeros(len(ROWS), 1)
    a = sweep(backend, ROWS, conditions, _probability_of_token_7, reference)
    b = sweep(backend, ROWS, conditions, _probability_of_token_7, reference, reuse_prefix=False)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("adapter", ["transformer_lens", "nnsight"])
def test_every_adapter_sweeps_to_the_same_values(tiny_backends, adapter):
    conditions = _conditions(tiny_backends["hf"].d_model, Site(2))
    reference = torch.zeros(len(ROWS), 1)
    ours = sweep(tiny_backends["hf"], ROWS, conditions, _probability_of_token_7, reference)
    theirs = sweep(tiny_backends[adapter], ROWS, conditions, _probability_of_token_7, reference)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_a_model_the_stand_ins_cannot_serve_falls_back_with_a_warning(tokenizer, monkeypatch):
    backend = wrap(tiny_llama(), tokenizer, "hf")

    def fails(*args, **kwargs):
        raise TypeError("this architecture's loop wants something else")

    monkeypatch.setattr(backend, "_forward_from", fails)
    with pytest.warns(UserWarning, match="full forward"):
        assert backend.resumable is False
    conditions = _conditions(backend.d_model, Site(1))
    reference = torch.zeros(len(ROWS), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once, not on every call
        values = sweep(backend, ROWS, conditions, _probability_of_token_7, reference)
    assert values.shape == (len(conditions), len(ROWS), 2)


@pytest.mark.parametrize("adapter", ["hf", "transformer_lens"])
def test_on_the_real_model_the_shared_prefix_changes_nothing(real_backends, adapter):
    from emovec.interventions._suites import PRESSURE_TEMPLATE, load_situations, render

    backend = real_backends[adapter]
    assert backend.resumable
    rows = [
        backend.tokenizer(
            render(
                backend,
                PRESSURE_TEMPLATE.format(situation=s.situation, a=s.shortcut, b=s.honest),
                chat=True,
            ),
            add_special_tokens=False,
        )["input_ids"]
        for s in load_situations(None)[:3]
    ]
    site = Site(20)
    norm = 40.0
    conditions = [
        (),
        *(((site, _unit(backend.d_model, k), a * norm),) for k, a in [(0, 0.05), (1, -0.1)]),
    ]
    reference = torch.zeros(len(rows), 1)
    fast = sweep(backend, rows, conditions, _probability_of_token_7, reference)
    slow = sweep(backend, rows, conditions, _probability_of_token_7, reference, reuse_prefix=False)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(fast[0], fast[2])


def test_a_bridge_in_compatibility_mode_keeps_full_forwards(tokenizer):
    backend = wrap(tiny_llama(), tokenizer, "transformer_lens")
    assert backend.resumable
    backend.model.enable_compatibility_mode()
    assert backend.compatibility_mode and backend.resumable is False
    conditions = _conditions(backend.d_model, Site(1))
    reference = torch.zeros(len(ROWS), 1)
    with LayerCalls(layer_list(backend)[0]) as calls:
        sweep(backend, ROWS, conditions, _probability_of_token_7, reference, batch_tokens=16)
    assert calls.calls >= len(conditions)  # every condition ran the first block itself

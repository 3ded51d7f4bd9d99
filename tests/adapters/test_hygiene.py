"""No hook survives an intervention, even one that raises inside its body."""

import pytest
import torch

from emovec import Edit, Site
from tests.conftest import ADAPTERS


@pytest.fixture(scope="module")
def every(tiny_backends, toy_backend):
    """The shipped adapters and the toy fourth one, over the tiny model."""
    return {**tiny_backends, "toy": toy_backend}


class Boom(Exception):
    pass


def exploding_reducer(acts, mask):
    raise Boom("reducer failed inside the hook")


@pytest.mark.parametrize("adapter", [*ADAPTERS, "toy"])
def test_logits_restored_after_exception_in_capture(every, adapter):
    backend = every[adapter]
    batch = backend.tokenize(["one two three four", "five six"])
    baseline = backend.run(batch)
    steer = Edit.steer(Site(0), torch.ones(backend.d_model), 5.0)
    with pytest.raises(Boom):
        backend.capture(batch, [Site(1)], exploding_reducer, edits=[steer])
    assert torch.equal(backend.run(batch), baseline)


@pytest.mark.parametrize("adapter", [*ADAPTERS, "toy"])
def test_logits_restored_after_exception_in_intervene_body(every, adapter):
    backend = every[adapter]
    batch = backend.tokenize(["one two three four"])
    baseline = backend.run(batch)
    steer = Edit.steer(Site(1), torch.ones(backend.d_model), 5.0)
    with pytest.raises(Boom), backend.intervene([steer]):
        raise Boom("user code failed")
    assert torch.equal(backend.run(batch), baseline)


@pytest.mark.parametrize("adapter", [*ADAPTERS, "toy"])
def test_logits_restored_after_observer_raises_mid_generation(every, adapter):
    backend = every[adapter]
    batch = backend.tokenize(["one two three four"])
    baseline = backend.run(batch)

    class Failing:
        sites = [Site(1)]

        def observe(self, view):
            if view.step == 2:
                raise Boom("observer failed")

    steer = Edit.steer(Site(0), torch.ones(backend.d_model), 5.0)
    with pytest.raises(Boom):
        backend.generate(["hello"], max_new_tokens=5, edits=[steer], observers=[Failing()])
    assert torch.equal(backend.run(batch), baseline)


def test_intervene_applies_inside_and_only_inside(tiny_backends):
    backend = tiny_backends["hf"]
    batch = backend.tokenize(["one two three four"])
    baseline = backend.run(batch)
    steer = Edit.steer(Site(1), torch.ones(backend.d_model), 5.0)
    expected = backend.run(batch, [steer])
    with backend.intervene([steer]):
        out = backend.model(input_ids=batch.input_ids).logits
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.equal(backend.run(batch), baseline)


def test_transformer_lens_users_own_hooks_survive_and_still_fire(tiny_backends):
    backend = tiny_backends["transformer_lens"]
    bridge = backend.model
    batch = backend.tokenize(["one two three four"])
    seen = []

    def user_hook(x, hook):
        seen.append(hook.name)

    with bridge.hooks(fwd_hooks=[("blocks.1.hook_resid_post", user_hook)]):
        steer = Edit.steer(Site(1), torch.ones(backend.d_model), 5.0)
        backend.capture(batch, [Site(1)], edits=[steer])  # ours added and removed at that point
        assert len(seen) == 1
        backend.run(batch)
        assert len(seen) == 2  # the user's hook is still there after ours are gone
    point = bridge.hook_dict["blocks.1.hook_resid_post"]
    assert point.fwd_hooks == [] and not point._forward_hooks

"""Bad input raises errors that name the problem and the fix."""

import pytest
import torch

import emovec
from emovec import Edit, Site


def test_unknown_model_name():
    with pytest.raises(ValueError, match=r"Unknown model 'no-such-model'.*shipped model"):
        emovec.load_model("no-such-model")


def test_unknown_adapter():
    with pytest.raises(ValueError, match=r"Unknown adapter 'keras'.*installed are"):
        emovec.load_backend(adapter="keras")


def test_site_outside_model(tiny_backends):
    backend = tiny_backends["hf"]
    with pytest.raises(ValueError, match=r"outside the model: it has 3 layers"):
        backend.capture(["hello"], [Site(7)])


def test_edit_of_wrong_width(tiny_backends):
    backend = tiny_backends["transformer_lens"]
    edit = Edit.steer(Site(0), torch.ones(576), 1.0)
    with pytest.raises(ValueError, match=r"width 576.*d_model=64.*another model"):
        backend.run(["hello"], [edit])


def test_attach_unsupported_model():
    with pytest.raises(
        TypeError, match=r"cannot attach to a torch\.nn\.modules\.linear\.Linear.*Supported"
    ):
        emovec.attach(torch.nn.Linear(3, 3))


def test_nan_strength():
    with pytest.raises(ValueError, match="strength must be a finite number"):
        Edit.steer(Site(0), torch.ones(4), float("nan"))


def test_mask_of_wrong_shape(tiny_backends):
    backend = tiny_backends["hf"]
    edit = Edit.steer(Site(0), torch.ones(64), 1.0, positions=torch.ones(1, 99, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"position mask has shape \(1, 99\)"):
        backend.run(["hello there"], [edit])


def test_bad_site_text():
    with pytest.raises(ValueError, match="Cannot read site 'resid_mid.x'"):
        Site.parse("resid_mid.x")

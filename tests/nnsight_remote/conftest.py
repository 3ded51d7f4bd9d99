"""A tiny deployed model, the sandbox process serving it, and a remote backend over it.

The sandbox is one process for the whole session (starting it and loading the model takes
seconds); it requires the API key `KEY`, which every test passes explicitly unless it is
testing where keys come from.
"""

import pytest
from emovec_nnsight import RemoteNNsightBackend, RetryPolicy, Sandbox, SimulatedNDIF

from tests.conftest import copy_of, tiny_llama

KEY = "ndif-test-key-5b1e9c7a42d0"  # distinctive, so a leak anywhere is found by search
MODEL_ID = "tiny-random-llama"  # tiny_llama()'s recorded origin


@pytest.fixture(scope="session")
def deployment(tmp_path_factory, tokenizer):
    """The tiny model as the stand-in server 'deploys' it: a checkpoint folder."""
    folder = tmp_path_factory.mktemp("deployment")
    tiny_llama(0).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def sandbox(deployment):
    with Sandbox({MODEL_ID: deployment}, api_keys={KEY}) as server:
        yield server


def nnsight_model(tokenizer, model=None):
    from nnsight.modeling.transformers import TransformersModel

    return TransformersModel(model if model is not None else tiny_llama(0), tokenizer=tokenizer)


def make_remote(tokenizer, sandbox, *, transport=None, model=None, **kwargs):
    """A remote backend over the tiny model: same weights as `tiny_backends`, sent to `sandbox`."""
    kwargs.setdefault("retry", RetryPolicy(sleep=lambda s: None))
    return RemoteNNsightBackend(
        nnsight_model(tokenizer, model),
        transport=transport if transport is not None else SimulatedNDIF(sandbox, api_key=KEY),
        checker=sandbox,
        **kwargs,
    )


@pytest.fixture(scope="session")
def remote(tokenizer, sandbox):
    return make_remote(tokenizer, sandbox)


@pytest.fixture(scope="session")
def local(tiny_backends):
    """The local nnsight adapter over the same weights: the reference for every comparison."""
    return tiny_backends["nnsight"]


@pytest.fixture
def fresh_model():
    return copy_of(tiny_llama(0))

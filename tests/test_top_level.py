"""The most used ops are importable from `emovec` itself, as the very objects of `emovec.ops`."""

import types

import pytest

import emovec
import emovec.ops

REEXPORTED = (
    "project",
    "reject",
    "orthonormalize",
    "orthogonalize_set",
    "orthogonalize_against",
    "steer",
    "clamp",
    "ablate",
    "patch_projection",
    "scores",
    "cosine_matrix",
    "pca",
)


def assert_same_objects(top, names):
    for name in names:
        assert name in top.__all__, name
        assert getattr(top, name) is getattr(emovec.ops, name), name


def test_top_level_ops_are_the_ops():
    assert_same_objects(emovec, REEXPORTED)


def test_a_wrapper_at_top_level_would_be_caught():
    wrapped = types.SimpleNamespace(**{n: getattr(emovec, n) for n in REEXPORTED})
    wrapped.__all__ = list(REEXPORTED)
    wrapped.reject = lambda x, basis: emovec.ops.reject(x, basis)
    with pytest.raises(AssertionError, match="reject"):
        assert_same_objects(wrapped, REEXPORTED)


def test_every_name_in_all_resolves():
    for module in (emovec, emovec.ops):
        assert len(set(module.__all__)) == len(module.__all__)
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"

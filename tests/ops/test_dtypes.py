"""Every op returns tensors in its input's dtype: half precision, bfloat16, float32, float64.

Half-precision inputs may be computed in float32 inside (the linear-algebra kernels need it),
but come back in their own dtype; only the streaming accumulators are float64 by design.
"""

from collections.abc import Callable

import pytest
import torch

import emovec.ops as ops

from .strategies import F64, from_svd, gaussian, haar_orthogonal, spectrum

DTYPES = [torch.float16, torch.bfloat16, torch.float32, F64]


def _inputs(dtype: torch.dtype) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "x": gaussian((2, 3, 8), seed=1).to(dtype),
        "basis": haar_orthogonal(8, g)[:3].to(dtype),
        "vectors": from_svd(4, 8, spectrum(4, condition=5.0, scale=1.0), seed=2).to(dtype),
        "rows": gaussian((12, 8), seed=3).to(dtype),
        "direction": gaussian((8,), seed=4).to(dtype),
    }


# name -> op on the inputs, returning every tensor whose dtype must be the input's.
OPS: dict[str, Callable[[dict[str, torch.Tensor]], list[torch.Tensor]]] = {
    "project": lambda t: [ops.project(t["x"], t["basis"])],
    "reject": lambda t: [ops.reject(t["x"], t["basis"])],
    "orthonormalize": lambda t: [ops.orthonormalize(t["vectors"])],
    "orthogonalize_set symmetric": lambda t: [
        ops.orthogonalize_set(t["vectors"], method="symmetric")
    ],
    "orthogonalize_against": lambda t: list(ops.orthogonalize_against(t["x"], t["vectors"])),
    "principal_angles": lambda t: [ops.principal_angles(t["vectors"], t["basis"])],
    "steer": lambda t: [ops.steer(t["x"], t["direction"], 2.0)],
    "clamp": lambda t: [ops.clamp(t["x"], t["direction"], 1.0)],
    "patch_projection": lambda t: [ops.patch_projection(t["x"], t["x"].flip(0), t["basis"])],
    "ablate": lambda t: [ops.ablate(t["x"], t["basis"], mean=t["direction"])],
    "scores": lambda t: [ops.scores(t["x"], t["vectors"])],
    "cosine_matrix": lambda t: [ops.cosine_matrix(t["rows"], t["vectors"])],
    "pca": lambda t: [p for p in ops.pca(t["rows"], k=3) if isinstance(p, torch.Tensor)],
    "pca_from_covariance": lambda t: [
        p
        for p in ops.pca_from_covariance(
            torch.cov(t["rows"].double().T).to(t["rows"].dtype), t["direction"], k=3
        )
        if isinstance(p, torch.Tensor)
    ],
    "procrustes": lambda t: list(ops.procrustes(t["vectors"], t["vectors"].flip(0))),
    "kmeans centroids": lambda t: [ops.kmeans(t["rows"], 2).centroids],
}


def assert_keeps_dtype(op, dtype):
    outputs = op(_inputs(dtype))
    assert outputs and all(out.dtype == dtype for out in outputs), [o.dtype for o in outputs]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", OPS)
def test_ops_keep_the_input_dtype(name, dtype):
    assert_keeps_dtype(OPS[name], dtype)


def test_dtype_mutant_that_upcasts_fails():
    """principal_angles before the fix: computed in float32 and returned that way."""

    def upcasting(t):
        return [ops.principal_angles(t["vectors"].float(), t["basis"].float())]

    for dtype in (torch.float16, torch.bfloat16):
        with pytest.raises(AssertionError):
            assert_keeps_dtype(upcasting, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_streaming_accumulates_in_float64_whatever_the_input(dtype):
    rows = gaussian((6, 4), seed=5).to(dtype)
    mean, cov = ops.RunningMean(4), ops.RunningCovariance(4)
    mean.update(rows)
    cov.update(rows)
    assert mean.mean.dtype == cov.covariance().dtype == F64

"""Probe matrices: which emotions at which sites a monitor reads, and how it reads them."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from emovec._site import Site
from emovec.ops import orthonormalize
from emovec.ops._checks import nonzero_norms
from emovec.ops._readout import readout
from emovec.vectors import EmotionVectors


def default_site(vectors: EmotionVectors) -> Site:
    """The bundle's site nearest two thirds of the model's depth (the paper's default layer).

    Example:
        >>> ev = EmotionVectors(torch.eye(2)[:, None, :].expand(2, 3, 2).clone(), ("a", "b"),
        ...                     (Site(3), Site(19), Site(25)), {"n_layers": 30})
        >>> default_site(ev)
        Site(layer=19, stream='resid_post')
    """
    n_layers = vectors.n_layers or max(s.layer for s in vectors.sites) + 1
    target = 2 * n_layers / 3
    return min(vectors.sites, key=lambda s: (abs(s.layer - target), s.layer))


class Probes:
    """The probe matrices of some emotions at some sites, and how to read them.

    `read` projects each site's activations onto its unit vectors (`emovec.ops.scores`: one
    matmul per site). `reducer` does the same inside a capture hook for corpus-scale work: a
    reducer does not know which site it runs at, so it projects onto one basis `B` shared by all
    sites (the stacked vectors, or an orthonormal basis of their span when that is narrower) and
    `readings_from` recovers each site's readings with a small `[k, emotion]` matrix.
    """

    def __init__(self, vectors: EmotionVectors, emotions: Sequence[str], sites: Sequence[Site]):
        self.emotions = tuple(emotions)
        self.sites = tuple(sites)
        picked = vectors.select(list(self.emotions), list(self.sites)).vectors.float()
        self.weights: Float[Tensor, "site emotion d_model"] = picked.transpose(0, 1).contiguous()
        # Checked once here, so that reading every token skips `scores`' zero-row check.
        nonzero_norms(self.weights, "vectors")
        self._cache: dict[tuple[Any, ...], Tensor] = {}
        self._basis: tuple[Tensor, list[Tensor] | None] | None = None

    def _shared_basis(self) -> tuple[Tensor, list[Tensor] | None]:
        """`B` and the per-site maps (None: `B` is the stacked vectors; slice instead)."""
        if self._basis is None:
            n_site, n_emo, d = self.weights.shape
            stacked = self.weights.reshape(n_site * n_emo, d)
            if n_site * n_emo <= d:
                self._basis = (stacked, None)
            else:
                # An orthonormal basis of the span (SVD in float64; rank from singular values).
                _, s, vh = torch.linalg.svd(stacked.double(), full_matrices=False)
                rank = int((s > s.max() * max(stacked.shape) * 1e-12).sum())
                q = orthonormalize(vh[:rank])
                self._basis = (q.float(), [(q @ w.double().T).float() for w in self.weights])
        return self._basis

    def _on(self, like: Tensor, which: str, i: int = 0) -> Tensor:
        key = (like.device, like.dtype, which, i)
        if key not in self._cache:
            source = self.weights[i] if which == "site" else self._shared_basis()[0]
            self._cache[key] = source.to(device=like.device, dtype=like.dtype)
        return self._cache[key]

    def read(
        self, activations: Mapping[Site, Float[Tensor, "batch pos d_model"]]
    ) -> Float[Tensor, "batch pos site emotion"]:
        """Readings at every site, stacked (`scores` of the activations on the unit vectors)."""
        parts = [
            readout(activations[site], self._on(activations[site], "site", i))
            for i, site in enumerate(self.sites)
        ]
        return parts[0][:, :, None] if len(parts) == 1 else torch.stack(parts, dim=2)

    def reducer(self) -> Callable[[Tensor, Tensor], Tensor]:
        """A capture reducer: `[batch, pos, k]` coefficients on the shared basis."""

        def project(
            acts: Float[Tensor, "batch pos d_model"], mask: Bool[Tensor, "batch pos"]
        ) -> Float[Tensor, "batch pos k"]:
            return readout(acts, self._on(acts, "basis"))

        return project

    def readings_from(
        self, captured: Mapping[Site, Float[Tensor, "batch pos k"]]
    ) -> Float[Tensor, "batch pos site emotion"]:
        """Per-site readings from the `reducer` outputs of one capture."""
        n_emo = len(self.emotions)
        maps = self._shared_basis()[1]
        parts = []
        for i, site in enumerate(self.sites):
            coeffs = captured[site].float()
            if maps is None:
                parts.append(coeffs[..., i * n_emo : (i + 1) * n_emo])
            else:
                parts.append(coeffs @ maps[i].to(coeffs.device))
        return torch.stack(parts, dim=2)

"""Where an intervention acts: the sites it names (or the default site) on a checked bundle."""

from collections.abc import Sequence
from typing import Any

from emovec._site import Site, parse_sites

SiteSpec = Site | str | int | Sequence[Site | str | int] | None


def default_site(vectors: Any, n_layers: int | None = None) -> Site:
    """The bundle's site nearest two thirds of the model's depth (the paper's default layer).

    Example:
        >>> import torch
        >>> from emovec.vectors import EmotionVectors
        >>> ev = EmotionVectors(torch.eye(3)[:1, None].expand(1, 3, 3).clone(), ("calm",),
        ...                     (Site(2), Site(10), Site(20)), {"n_layers": 30})
        >>> default_site(ev)
        Site(layer=20, stream='resid_post')
    """
    depth: int = (
        n_layers or getattr(vectors, "n_layers", None) or (max(s.layer for s in vectors.sites) + 1)
    )
    target = 2 * depth / 3
    return min(vectors.sites, key=lambda s: (abs(s.layer - target), s.layer, s.stream))


def _sites(spec: SiteSpec, vectors: Any, backend: Any) -> list[Site]:
    if spec is None:
        if vectors is None:
            raise ValueError("Pass sites=... (there are no vectors to take a default site from).")
        return [default_site(vectors, int(backend.n_layers)).check(int(backend.n_layers))]
    if isinstance(spec, (list, tuple)) and not spec:
        raise ValueError("sites is empty: name at least one site.")
    return parse_sites(
        spec if isinstance(spec, (str, int, Site)) else list(spec), int(backend.n_layers)
    )


def _check_bundle(vectors: Any, backend: Any, allow_mismatch: bool) -> None:
    if vectors is None:
        return
    if not hasattr(vectors, "vectors") or not hasattr(vectors, "emotions"):
        raise TypeError(
            f"vectors must be an emovec EmotionVectors bundle, got {type(vectors).__name__}."
        )
    vectors.check(backend, allow_mismatch=allow_mismatch)

"""Human valence and arousal ratings of a bundle's emotions, as the geometry analyses use them."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from emovec.catalogue import AffectNorms, load_norms

RATINGS = ("valence", "arousal")


@dataclass(frozen=True)
class Ratings:
    """The emotions of a bundle that have human norms, with their valence and arousal."""

    emotions: tuple[str, ...]
    valence: tuple[float, ...]
    arousal: tuple[float, ...]
    missing: tuple[str, ...]
    source: str

    def column(self, name: str) -> list[float]:
        """`valence` or `arousal`, in `emotions` order."""
        return list(getattr(self, name))


def ratings_for(emotions: Sequence[str], norms: Any = None, *, minimum: int = 3) -> Ratings:
    """The valence and arousal ratings of those `emotions` that have norms.

    Args:
        emotions: Emotion names (e.g. `EmotionVectors.emotions`).
        norms: An `emovec.catalogue.AffectNorms`, a mapping `{emotion: {"valence": v,
            "arousal": a}}`, a CSV path (`emovec.catalogue.load_norms`) or None (the shipped
            Warriner et al. 2013 norms).
        minimum: Fewest rated emotions accepted.

    Returns:
        The rated emotions in the given order, their ratings, and the unrated ones.

    Raises:
        ValueError: Fewer than `minimum` emotions have norms; the message names the norms'
            source and a few of the bundle's emotions.

    Example:
        >>> r = ratings_for(["calm", "alarmed", "afraid"], minimum=2)
        >>> r.emotions, r.valence, r.missing
        (('calm', 'afraid'), (6.89, 2.25), ('alarmed',))
    """
    if isinstance(norms, AffectNorms):
        table = {w: {"valence": n.valence, "arousal": n.arousal} for w, n in norms.ratings.items()}
        source = norms.source
    elif isinstance(norms, Mapping):
        table, source = norms, "the given norms"
    else:
        loaded = load_norms(norms)
        table = {w: {"valence": n.valence, "arousal": n.arousal} for w, n in loaded.ratings.items()}
        source = loaded.source
    used = tuple(e for e in emotions if e in table)
    missing = tuple(e for e in emotions if e not in table)
    if len(used) < minimum:
        sample = ", ".join(list(emotions)[:5]) + (", ..." if len(emotions) > 5 else "")
        raise ValueError(
            f"Norms {source} rate only {len(used)} of the {len(emotions)} emotions ({sample});"
            f" at least {minimum} are needed: pass a norms CSV (emotion,valence,arousal,dominance)"
            " whose words are the bundle's emotion names."
        )
    for e in used:
        for name in RATINGS:
            if name not in table[e]:
                raise ValueError(f"Norms {source} have no {name} rating for {e!r}.")
    return Ratings(
        used,
        tuple(float(table[e]["valence"]) for e in used),
        tuple(float(table[e]["arousal"]) for e in used),
        missing,
        source,
    )

"""Weighted mixes of emotion vectors: `"calm - desperate"`, `"0.5*calm + joyful"`.

A mix is a list of `(weight, emotion)` terms; at one site it is the weighted sum of the
emotions' unit vectors, normalised again to unit length, so that a steering strength means the
same thing for a mix as for one emotion (a fraction of the site's mean residual norm).
"""

import re

import torch
from jaxtyping import Float
from torch import Tensor

from emovec._site import Site
from emovec.vectors import EmotionVectors

_WEIGHT = re.compile(r"^(?P<weight>\d+(?:\.\d*)?|\.\d+)\s*\*?\s*(?P<name>.*)$")


def _split_terms(text: str) -> list[tuple[str, str]]:
    """(sign, body) pieces: `+` always separates; `-` too, unless between two letters (a
    hyphenated name such as "self-confident")."""
    pieces: list[tuple[str, str]] = []
    sign, body = "+", []
    for i, char in enumerate(text):
        inner = 0 < i < len(text) - 1 and text[i - 1].isalpha() and text[i + 1].isalpha()
        if char == "+" or (char == "-" and not inner):
            if "".join(body).strip():
                pieces.append((sign, "".join(body).strip()))
                sign = char
            elif char == "-":
                sign = "-" if sign == "+" else "+"
            body = []
        else:
            body.append(char)
    pieces.append((sign, "".join(body).strip()))
    return pieces


def parse_mix(expression: str) -> list[tuple[float, str]]:
    """The `(weight, emotion)` terms of a mix expression (a bare name is weight 1).

    `+` separates terms; `-` does too, except inside a hyphenated name ("self-confident"), so
    write a difference with spaces: "calm - desperate".

    Example:
        >>> parse_mix("calm - desperate")
        [(1.0, 'calm'), (-1.0, 'desperate')]
        >>> parse_mix("0.5*calm+self-confident")
        [(0.5, 'calm'), (1.0, 'self-confident')]
    """
    terms: list[tuple[float, str]] = []
    for sign, body in _split_terms(expression.strip()):
        match = _WEIGHT.match(body)
        weight, name = (float(match["weight"]), match["name"].strip()) if match else (1.0, body)
        if not name or any(c in name for c in "*/()"):
            raise ValueError(
                f"Cannot read the mix {expression!r} at {body!r}: write terms like 'calm',"
                " '0.5*calm' or '2 desperate', joined by + or - (e.g. 'calm - desperate')."
            )
        terms.append((-weight if sign == "-" else weight, name))
    return terms


def mix_vector(
    vectors: EmotionVectors, terms: list[tuple[float, str]], site: "Site | str | int"
) -> Float[Tensor, " d_model"]:
    """The unit vector of a mix at `site`: sum of weight x unit emotion vector, normalised.

    Raises:
        UnknownNameError: An emotion the bundle does not hold.
        ValueError: The weighted sum is zero (e.g. "calm - calm").
    """
    total = torch.zeros(vectors.d_model, dtype=torch.float64)
    for weight, name in terms:
        row = vectors.vector(name, site).double()
        total += weight * row / row.norm().clamp_min(1e-12)
    norm = total.norm()
    if float(norm) < 1e-9:
        raise ValueError(f"The mix is zero at {Site.parse(site)}: its terms cancel out.")
    return (total / norm).float()

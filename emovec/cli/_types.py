"""Argument types that refuse absurd values when the command line (or `--config`) is parsed:
a negative count, a zero window, a NaN strength, a fraction above 1 fail at once, exit code 2,
naming the option."""

import argparse
from collections.abc import Callable
from typing import Any


def _number(
    kind: type, name: str, lo: int | float | None, hi: int | float | None, *, open_lo: bool = False
) -> Callable[[str], Any]:
    """An argparse type: `kind` within [lo, hi] (lo excluded if `open_lo`), finite."""

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {name}") from None
        bad = value != value or value in (float("inf"), float("-inf"))
        bad = bad or (lo is not None and (value <= lo if open_lo else value < lo))
        if bad or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {name}, got {text}")
        return value

    convert.__name__ = name
    return convert


# Argument types that refuse absurd values when the command line is parsed.
positive = _number(int, "a positive integer", 1, None)
natural = _number(int, "an integer >= 0", 0, None)
finite = _number(float, "a finite number", None, None)
nonnegative = _number(float, "a finite number >= 0", 0, None)
fraction = _number(float, "a fraction in [0, 1]", 0, 1)
open_fraction = _number(float, "a fraction in (0, 1]", 0, 1, open_lo=True)
percent = _number(float, "a percentile in [0, 100]", 0, 100)

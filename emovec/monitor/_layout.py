"""The data a rule sees: what the readings hold (`Layout`) and one token of them (`Frame`).

Tokens that are not real for a row (padding, a finished row, positions the caller excludes)
are marked invalid in the frame: they neither change a row's state nor satisfy any condition.
"""

from dataclasses import dataclass

import numpy as np

from emovec._site import Site


@dataclass(frozen=True)
class Layout:
    """What the readings hold: emotions and sites in axis order, and whether z-scores exist.

    Example:
        >>> Layout(("calm", "afraid"), (Site(3),), calibrated=False).column("afraid", None)
        (0, 1)
    """

    emotions: tuple[str, ...]
    sites: tuple[Site, ...]
    calibrated: bool = False

    def column(self, emotion: str, site: "str | Site | None") -> tuple[int, int]:
        """`(site index, emotion index)`; `site=None` means the first site."""
        if emotion not in self.emotions:
            shown = ", ".join(self.emotions[:8]) + (" ..." if len(self.emotions) > 8 else "")
            raise ValueError(
                f"A rule watches {emotion!r}, which the monitor does not read ({shown}): add it"
                " to the monitor's emotions or fix the rule."
            )
        if site is None:
            return 0, self.emotions.index(emotion)
        parsed = Site.parse(site)
        if parsed not in self.sites:
            raise ValueError(
                f"A rule reads site {parsed}, which the monitor does not read"
                f" ({', '.join(map(str, self.sites))}): add it to the monitor's sites."
            )
        return self.sites.index(parsed), self.emotions.index(emotion)


@dataclass(frozen=True, eq=False)
class Frame:
    """One token per row: raw readings `[rows, site, emotion]`, z-scores (or None), real rows."""

    raw: np.ndarray
    z: np.ndarray | None
    valid: np.ndarray

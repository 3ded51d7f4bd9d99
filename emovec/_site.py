"""Sites: framework-neutral places in the residual stream."""

from dataclasses import dataclass
from typing import Literal

Stream = Literal["resid_pre", "resid_post"]
STREAMS: tuple[Stream, ...] = ("resid_pre", "resid_post")


@dataclass(frozen=True, order=True)
class Site:
    """A place in the residual stream: the input (`resid_pre`) or output (`resid_post`) of a block.

    `Site(l, "resid_post")` is the same activation as `Site(l + 1, "resid_pre")`, and as Hugging
    Face's `hidden_states[l + 1]`. Sites are what vector files record; each adapter maps them to
    its own hook name or module path.

    Example:
        >>> Site(12)
        Site(layer=12, stream='resid_post')
        >>> Site.parse("resid_pre.3")
        Site(layer=3, stream='resid_pre')
        >>> str(Site(12))
        'resid_post.12'
    """

    layer: int
    stream: str = "resid_post"  # one of STREAMS; checked with a clear message below

    def __post_init__(self) -> None:
        if isinstance(self.layer, bool) or not isinstance(self.layer, int) or self.layer < 0:
            raise ValueError(f"Site layer must be a non-negative int, got {self.layer!r}.")
        if self.stream not in STREAMS:
            raise ValueError(f"Site stream must be one of {STREAMS}, got {self.stream!r}.")

    def __str__(self) -> str:
        return f"{self.stream}.{self.layer}"

    @classmethod
    def parse(cls, text: "str | int | Site") -> "Site":
        """Read `"resid_post.12"`, `"12"` (meaning resid_post) or an int; a `Site` passes through."""
        if isinstance(text, Site):
            return text
        if isinstance(text, int):
            return cls(text)
        stream, _, layer = str(text).strip().rpartition(".")
        try:
            return cls(int(layer), stream or "resid_post")  # type: ignore[arg-type]
        except ValueError:
            raise ValueError(
                f"Cannot read site {text!r}: write 'resid_post.12', 'resid_pre.0' or a layer number."
            ) from None

    def check(self, n_layers: int) -> "Site":
        """Raise if this site does not exist in a model with `n_layers` blocks."""
        if self.layer >= n_layers:
            raise ValueError(
                f"Site {self} is outside the model: it has {n_layers} layers (0..{n_layers - 1})."
                " Pick a layer below that."
            )
        return self


def parse_sites(spec: "str | int | Site | list[str | int | Site]", n_layers: int) -> list[Site]:
    """Expand a site spec: a list, `"all"`, a range `"4:20"` or comma list `"3,8,resid_pre.5"`.

    Raises:
        ValueError: A site outside the model, an empty range (`"4:2"`), an empty spec, or a
            site named twice (`"20,20"`): each would make a run that computes nothing or
            something twice, so it fails before any model call.

    Example:
        >>> print(*parse_sites("0:3", 30))
        resid_post.0 resid_post.1 resid_post.2
    """
    if isinstance(spec, (list, tuple)):
        sites = [Site.parse(s).check(n_layers) for s in spec]
    elif isinstance(spec, (int, Site)):
        sites = [Site.parse(spec).check(n_layers)]
    elif spec.strip() == "all":
        sites = [Site(layer) for layer in range(n_layers)]
    else:
        sites = []
        for part in spec.strip().split(","):
            sites.extend(_parse_part(part.strip(), n_layers))
    return _unique(sites, spec)


def check_site_spec(spec: "str | int | Site | list[str | int | Site]") -> None:
    """Raise on a site spec that no model could accept (bad syntax, an empty range, a repeated
    site), before any model is loaded; layer bounds are checked later, against the model.

    Example:
        >>> check_site_spec("4:20,resid_pre.3")
        >>> check_site_spec("4:2")
        Traceback (most recent call last):
        ...
        ValueError: Layer range '4:2' is empty: write 'lo:hi' with 0 <= lo < hi (hi excluded), e.g. '2:5'.
    """
    if isinstance(spec, str) and spec.strip() == "all":
        return
    parse_sites(spec, _NO_BOUND)


_NO_BOUND = 1 << 12  # stands for "any depth" when no model is known yet


def _parse_part(part: str, n_layers: int) -> list[Site]:
    if ":" not in part:
        return [Site.parse(part).check(n_layers)]
    lo, _, hi = part.partition(":")
    try:
        start, stop = int(lo or 0), int(hi or n_layers)
    except ValueError:
        raise ValueError(f"Cannot read layer range {part!r}: write e.g. '4:20'.") from None
    if start < 0 or stop <= start:
        raise ValueError(
            f"Layer range {part!r} is empty: write 'lo:hi' with 0 <= lo < hi (hi excluded),"
            f" e.g. '{min(start, stop)}:{max(start, stop) + 1}'."
        )
    return [Site(layer).check(n_layers) for layer in range(start, stop)]


def _unique(sites: list[Site], spec: object) -> list[Site]:
    if not sites:
        raise ValueError(f"The site spec {spec!r} names no site: give e.g. '12', '4:20' or 'all'.")
    seen: set[Site] = set()
    for site in sites:
        if site in seen:
            raise ValueError(f"Site {site} is named twice in {spec!r}: list each site once.")
        seen.add(site)
    return sites

"""The report's sections, registered by the analyses they show.

A section is one analysis run on the report's bundle: `run` computes it and returns its
JSON-able numbers (kept under `key` in `numbers.json`) and its drawn `Section`; `applies` says
whether it runs at all for these inputs; `markdown` writes its part of the generated Markdown
page from the numbers alone, so that a saved `numbers.json` renders again without the model.
`build_report` runs every registered section in registration order; a new analysis is one
module in `emovec.analysis` and one `register(ReportSection(...))` (see `_analyses`).
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from emovec._site import Site
from emovec.analysis._readings import ReadAt
from emovec.analysis._stimuli import Family, Scenario
from emovec.vectors import EmotionVectors

from ._html import Section


@dataclass(frozen=True)
class ReportResult:
    """What `build_report` computed and wrote.

    Attributes:
        html: Path of `report.html`.
        numbers_path: Path of `numbers.json`.
        figures: Paths of the PNG and SVG figures.
        numbers: The numbers as written to JSON.
        summary: The headline rows: `(check, ours, reference, verdict)`.
        seconds: Wall time of the whole build.
    """

    html: Path
    numbers_path: Path
    figures: tuple[Path, ...]
    numbers: dict[str, Any]
    summary: tuple[tuple[str, Any, Any, str], ...]
    seconds: float


@dataclass(frozen=True)
class ReportOptions:
    """What a report reads besides the bundle and the model; every field has a default.

    Attributes:
        norms: Human ratings (`emovec.catalogue.load_norms` path, `AffectNorms`, mapping or
            None for the shipped Warriner et al. norms).
        sweeps: Intensity families: file paths and/or `Family` objects; None = shipped.
        scenarios: Implicit scenarios: a JSONL path or `Scenario` list; None = shipped.
        corpus: `(stories, neutral)` records for held-out identification (stories need
            `emotion`, `text`, `topic`); None skips it.
        heldout: Held-out identification already measured (a `HeldoutIdentification` or
            `heldout_numbers` of one): shown as is, without another pass over the corpus.
            Exclusive with `corpus`.
        compare: A second bundle to compare with (another model, corpus or recipe).
        out_dir: Output folder.
        site: Site for the per-site analyses (scatter, similarity, logit lens); None = the
            recommended site.
        read_at: Where sweeps read the probes ("assistant" or "prompt").
        k: k-means clusters.
        n_resamples: Bootstrap resamples for the correlation intervals.
        heldout_fraction: Share of topics held out.
        seed: Seeds the bootstrap, k-means and the topic split.
        allow_mismatch: Accept a bundle from another model (deliberate cross-model use).
        progress: Progress bars on stderr.
    """

    norms: Any = None
    sweeps: "Sequence[str | PathLike[str] | Family] | None" = None
    scenarios: "str | PathLike[str] | Sequence[Scenario] | None" = None
    corpus: "tuple[Iterable[Any], Iterable[Any] | None] | None" = None
    heldout: Any = None
    compare: "str | PathLike[str] | EmotionVectors | None" = None
    out_dir: "str | PathLike[str]" = "runs/report"
    site: "Site | str | int | None" = None
    read_at: ReadAt = "assistant"
    k: int = 10
    n_resamples: int = 1000
    heldout_fraction: float = 0.25
    seed: int = 0
    allow_mismatch: bool = False
    progress: bool = True


@dataclass
class ReportRun:
    """What the sections of one report share: the checked inputs, and what earlier sections
    decided (the geometry section sets `site` and `geometry` for the per-site ones after it)."""

    vectors: EmotionVectors
    backend: Any
    options: ReportOptions
    families: list[Family]
    scenarios: list[Scenario]
    other: EmotionVectors | None
    heldout: Mapping[str, Any] | None
    site: Site | None = None
    geometry: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def chosen(self) -> Site:
        """The site of the per-site analyses (set by the geometry section)."""
        if self.site is None:
            raise RuntimeError("The geometry section must run before the per-site sections.")
        return self.site


def _always(run: ReportRun) -> bool:
    return True


@dataclass(frozen=True)
class ReportSection:
    """One registered section of the report.

    Attributes:
        key: Its key in `numbers.json` (kept stable: saved runs are read back by it).
        step: Its name on the progress bar.
        run: Computes it: `(numbers, section)`, or `(None, None)` when there is nothing to
            show for these inputs (for example a layer RSA of a one-site bundle).
        applies: Whether it runs for these inputs (and counts on the progress bar).
        markdown: Its lines of the Markdown page, from its numbers (None: not on the page).
        markdown_rank: Where those lines go on the page (lower first).
    """

    key: str
    step: str
    run: Callable[[ReportRun], "tuple[Any, Section | None]"]
    applies: Callable[[ReportRun], bool] = _always
    markdown: Callable[[Mapping[str, Any]], list[str]] | None = None
    markdown_rank: int = 100


_SECTIONS: list[ReportSection] = []


def register(section: ReportSection) -> ReportSection:
    """Add `section` to every report (after those registered before it); returns it.

    Raises:
        ValueError: A section with the same key is registered already.
    """
    if any(s.key == section.key for s in _SECTIONS):
        raise ValueError(f"A report section with key {section.key!r} is registered already.")
    _SECTIONS.append(section)
    return section


def sections() -> tuple[ReportSection, ...]:
    """The registered sections, in the order reports show them."""
    return tuple(_SECTIONS)

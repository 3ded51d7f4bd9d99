"""The validation report: every analysis of a vector set in one self-contained HTML file.

`build_report(bundle, backend, ...)` runs the analyses of `emovec.analysis` (PCA geometry vs
human ratings with a layer sweep and a recommended site, layer RSA, similarity structure,
logit lens, intensity sweeps, implicit scenarios, held-out identification, comparison with a
second bundle) and writes `report.html` (figures embedded, no network needed), `numbers.json`
and `figures/*.png|svg`. `render_report(content, out_dir)` is the renderer alone, for reports
of your own sections. CLI: `emovec report BUNDLE`.
"""

from ._build import build_report as build_report
from ._heldout import heldout_numbers as heldout_numbers
from ._html import Figure as Figure
from ._html import RenderedReport as RenderedReport
from ._html import ReportContent as ReportContent
from ._html import Section as Section
from ._html import Table as Table
from ._html import Text as Text
from ._html import render_report as render_report
from ._markdown import summary_markdown as summary_markdown
from ._numbers import GeometryNumbers as GeometryNumbers
from ._numbers import HeldoutNumbers as HeldoutNumbers
from ._registry import ReportOptions as ReportOptions
from ._registry import ReportResult as ReportResult
from ._registry import ReportRun as ReportRun
from ._registry import ReportSection as ReportSection
from ._registry import register as register
from ._registry import sections as sections
from ._summary import FLOORS as FLOORS
from ._summary import PAPER as PAPER
from ._summary import summarize as summarize

__all__ = [
    "FLOORS",
    "PAPER",
    "Figure",
    "GeometryNumbers",
    "HeldoutNumbers",
    "RenderedReport",
    "ReportContent",
    "ReportOptions",
    "ReportResult",
    "ReportRun",
    "ReportSection",
    "Section",
    "Table",
    "Text",
    "build_report",
    "heldout_numbers",
    "register",
    "render_report",
    "sections",
    "summarize",
    "summary_markdown",
]

"""A self-contained HTML report: sections of text, tables and figures, and a JSON of the numbers.

`render_report(content, out_dir)` writes `report.html` (figures embedded as base64 PNG, CSS
inline: it opens from disk with no network and no CDN), `numbers.json`, and every figure as
`figures/NAME.png` and `figures/NAME.svg`. Every file is written atomically; `report.html`
last, so a report that exists is complete.
"""

import base64
import html
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from emovec._files import write_atomic, write_json

FIGURES = "figures"


@dataclass(frozen=True)
class Text:
    """Paragraphs of plain text (escaped; blank lines separate paragraphs)."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table of plain values; floats are shown with `digits` decimals, None/NaN as "n/a"."""

    headers: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    caption: str = ""
    digits: int = 3


@dataclass(frozen=True)
class Figure:
    """A matplotlib figure, saved as `figures/<name>.png|svg` and embedded in the page."""

    name: str
    figure: Any
    caption: str = ""


Block = Text | Table | Figure


@dataclass(frozen=True)
class Section:
    """A titled part of the report."""

    title: str
    blocks: tuple[Block, ...]
    anchor: str = ""

    @property
    def id(self) -> str:
        return self.anchor or "".join(c if c.isalnum() else "-" for c in self.title.lower())


@dataclass(frozen=True)
class ReportContent:
    """Everything a report shows: a title, header facts, sections, and the numbers for JSON."""

    title: str
    facts: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RenderedReport:
    """Paths of what `render_report` wrote."""

    html: Path
    numbers: Path
    figures: tuple[Path, ...]


def cell(value: Any, digits: int = 3) -> str:
    """One table cell as text.

    Example:
        >>> cell(0.81234), cell(None), cell(float("nan")), cell(12), cell("calm")
        ('0.812', 'n/a', 'n/a', '12', 'calm')
    """
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


def plain(data: Any) -> Any:
    """`data` with tuples as lists, non-finite floats as None, other leaves as JSON types.

    Example:
        >>> plain({"a": (1.0, float("nan")), 2: {"b"}})
        {'a': [1.0, None], '2': ['b']}
    """
    if isinstance(data, dict):
        return {str(k): plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple, set, frozenset)):
        items = sorted(data) if isinstance(data, (set, frozenset)) else data
        return [plain(v) for v in items]
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if data is None or isinstance(data, (bool, int, str)):
        return data
    if hasattr(data, "tolist"):
        return plain(data.tolist())
    return str(data)


def figure_bytes(fig: Any, fmt: str) -> bytes:
    """The figure rendered as `fmt` ("png" or "svg")."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=110, metadata=_quiet_metadata(fmt))
    return buf.getvalue()


def _freeze_layout(fig: Any) -> None:
    """Run the figure's layout engine once, then keep its result: otherwise every save (PNG,
    then SVG) lays the figure out again, which dominates the time of text-heavy figures."""
    if fig.get_layout_engine() is not None:
        fig.draw_without_rendering()
        fig.set_layout_engine("none")


def _quiet_metadata(fmt: str) -> dict[str, Any]:
    # matplotlib stamps its web address and a date into the files; drop them so that the outputs
    # are reproducible and the report carries no URL.
    if fmt == "svg":
        return {"Creator": None, "Date": None, "Format": None, "Type": None}
    return {"Software": None}


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1150px; padding: 1.5em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc;
     margin-top: 2em; } nav ol { columns: 2; font-size: 0.95em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.55em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } caption { caption-side: top; text-align: left; color: #555;
     padding-bottom: 0.3em; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; } dl.facts { display: grid;
     grid-template-columns: max-content auto; gap: 0.1em 1em; font-size: 0.9em; }
dl.facts dt { font-weight: 600; } .pass { color: #1a7f37; font-weight: 600; }
.fail { color: #b42318; font-weight: 600; } p.note { color: #555; font-size: 0.9em; }
"""


def _table_html(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.headers)
    body = []
    for row in t.rows:
        cells = []
        for v in row:
            text = html.escape(cell(v, t.digits))
            numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
            mark = ""
            if v == "PASS":
                mark = ' class="pass"'
            elif v == "FAIL":
                mark = ' class="fail"'
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td{mark}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"<caption>{html.escape(t.caption)}</caption>" if t.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _text_html(t: Text) -> str:
    paragraphs = [p.strip() for p in t.text.split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)


def render_report(content: ReportContent, out_dir: "str | PathLike[str]") -> RenderedReport:
    """Write `report.html`, `numbers.json` and `figures/*.png|svg` into `out_dir`.

    Args:
        content: The report's sections and numbers.
        out_dir: Output folder (created if needed).

    Returns:
        The written paths.

    Example:
        >>> import tempfile
        >>> from matplotlib.figure import Figure as MplFigure
        >>> fig = MplFigure(); _ = fig.subplots().plot([0, 1], [1, 0])
        >>> content = ReportContent("Demo", (("model", "toy"),), (
        ...     Section("Numbers", (Text("Hello."), Table(("x", "r"), (("a", 0.5),)),
        ...                         Figure("line", fig, "a line"))),), {"r": 0.5})
        >>> out = render_report(content, tempfile.mkdtemp())
        >>> sorted(p.name for p in out.figures), "data:image/png;base64," in out.html.read_text()
        (['line.png', 'line.svg'], True)
    """
    out = Path(out_dir)
    folder = out / FIGURES
    written: list[Path] = []
    parts: list[str] = []
    toc: list[str] = []
    for section in content.sections:
        toc.append(f'<li><a href="#{section.id}">{html.escape(section.title)}</a></li>')
        body = [f'<section id="{section.id}"><h2>{html.escape(section.title)}</h2>']
        for block in section.blocks:
            if isinstance(block, Text):
                body.append(_text_html(block))
            elif isinstance(block, Table):
                body.append(_table_html(block))
            elif isinstance(block, Figure):
                _freeze_layout(block.figure)
                png = figure_bytes(block.figure, "png")
                svg = figure_bytes(block.figure, "svg")
                written.append(write_atomic(folder / f"{block.name}.png", png))
                written.append(write_atomic(folder / f"{block.name}.svg", svg))
                data = base64.b64encode(png).decode("ascii")
                alt = html.escape(block.caption or block.name, quote=True)
                body.append(
                    f'<figure id="fig-{html.escape(block.name, quote=True)}">'
                    f'<img src="data:image/png;base64,{data}" alt="{alt}">'
                    f"<figcaption>{html.escape(block.caption)}"
                    f" (files: {FIGURES}/{html.escape(block.name)}.png, .svg)</figcaption></figure>"
                )
            else:
                raise TypeError(f"Unknown report block {type(block).__name__}.")
        body.append("</section>")
        parts.append("".join(body))
    facts = "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in content.facts
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(content.title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{html.escape(content.title)}</h1><dl class="facts">{facts}</dl>'
        f"<nav><ol>{''.join(toc)}</ol></nav>{''.join(parts)}"
        '<p class="note">Generated by emovec report; the numbers are in numbers.json next'
        " to this file.</p></body></html>\n"
    )
    numbers = write_json(out / "numbers.json", plain(content.numbers), indent=1, allow_nan=False)
    page_path = write_atomic(out / "report.html", page.encode("utf-8"))
    return RenderedReport(page_path, numbers, tuple(written))


def table_from(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "", digits: int = 3
) -> Table:
    """A `Table` from any sequences (converted to tuples)."""
    return Table(tuple(headers), tuple(tuple(r) for r in rows), caption, digits)

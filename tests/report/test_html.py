"""The HTML renderer alone, and the headless-browser check used on full reports."""

import base64
import json
import re
import shutil
import subprocess

import pytest
from matplotlib.figure import Figure as MplFigure

from emovec.report import Figure, ReportContent, Section, Table, Text, render_report
from emovec.report._html import cell, plain

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (apt-get install -y chromium; `make test` does)",
)

# Appended to a copy of the page: after load, count the images, those the browser decoded,
# and every resource fetched or referenced (src/href) other than data: URIs and in-page
# anchors; write the counts into the DOM, where --dump-dom shows them.
PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var fetched = performance.getEntriesByType('resource').map(function (e) { return e.name; });
  Array.prototype.forEach.call(document.querySelectorAll('[src],[href]'), function (el) {
    fetched.push(el.getAttribute('src') || el.getAttribute('href'));
  });
  fetched = fetched.filter(function (n) { return n.indexOf('data:') !== 0 && n[0] !== '#'; });
  var mark = document.createElement('div');
  mark.id = 'emovec-check';
  mark.textContent = 'images=' + imgs.length + ' decoded=' + ok + ' fetched=' + fetched.length;
  document.body.appendChild(mark);
});
</script>"""


def browser_check(html_path, tmp_path) -> dict[str, int]:
    """Open a copy of `html_path` (with `PROBE`) in headless Chromium, network blocked."""
    page = tmp_path / "checked.html"
    page.write_text(html_path.read_text().replace("</body>", PROBE + "</body>"))
    profile = tmp_path / "chromium-profile"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves: no network
        "--virtual-time-budget=10000",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    found = re.search(r'id="emovec-check">images=(\d+) decoded=(\d+) fetched=(\d+)<', done.stdout)
    assert found, f"Chromium printed no check marker (exit {done.returncode}): {done.stderr[-500:]}"
    return dict(zip(("images", "decoded", "fetched"), map(int, found.groups()), strict=True))


def _content(n_figures: int = 2) -> ReportContent:
    figures = []
    for i in range(n_figures):
        fig = MplFigure(figsize=(3, 2))
        fig.subplots().plot([0, 1, 2], [i, 1, 0])
        figures.append(Figure(f"line{i}", fig, f"line {i}"))
    table = Table(("name", "r"), (("<calm>", 0.8123), ("afraid", float("nan"))))
    blocks = (Text("First & <b>second</b>.\n\nThird http://example.org"), table, *figures)
    return ReportContent("A <report>", (("model", "toy"),), (Section("Numbers", blocks),), {"r": 1})


def test_render_writes_html_json_and_both_figure_formats(tmp_path):
    out = render_report(_content(), tmp_path)
    html = out.html.read_text()
    assert sorted(p.name for p in out.figures) == [
        "line0.png",
        "line0.svg",
        "line1.png",
        "line1.svg",
    ]
    assert html.count("data:image/png;base64,") == 2
    png = base64.b64decode(re.search(r"base64,([^\"]+)\"", html).group(1))
    assert png.startswith(b"\x89PNG") and png == (tmp_path / "figures" / "line0.png").read_bytes()
    assert json.loads(out.numbers.read_text()) == {"r": 1}
    assert (out.html.stat().st_mode & 0o044) == 0o044  # readable by others, like a plain file


def test_text_is_escaped_and_urls_stay_plain_text(tmp_path):
    html = render_report(_content(0), tmp_path).html.read_text()
    assert "&lt;calm&gt;" in html and "&lt;b&gt;second&lt;/b&gt;" in html and "<b>" not in html
    assert "A &lt;report&gt;" in html and "n/a" in html and "0.812" in html
    assert not re.search(r"(src|href)=\"https?:", html)
    assert "http://example.org" in html  # in a paragraph, not as a link


def test_svg_and_png_carry_no_matplotlib_url(tmp_path):
    render_report(_content(1), tmp_path)
    svg = (tmp_path / "figures" / "line0.svg").read_text()
    assert "matplotlib.org" not in svg
    assert b"matplotlib.org" not in (tmp_path / "figures" / "line0.png").read_bytes()


def test_cells_and_plain_json():
    assert cell(True) == "yes" and cell(1e-4, 2) == "0.00" and cell(float("inf")) == "n/a"
    assert plain({"x": float("nan"), "y": (1, 2)}) == {"x": None, "y": [1, 2]}


@needs_chromium
def test_the_browser_decodes_every_figure_and_fetches_nothing(tmp_path):
    out = render_report(_content(3), tmp_path / "report")
    assert browser_check(out.html, tmp_path) == {"images": 3, "decoded": 3, "fetched": 0}


@needs_chromium
def test_mutation_the_browser_check_catches_a_broken_figure_and_a_fetch(tmp_path):
    out = render_report(_content(2), tmp_path / "report")
    html = out.html.read_text()
    broken = html.replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAAA", 1)
    broken = broken.replace("</body>", '<img src="pic.png" alt="x"></body>')
    (tmp_path / "broken.html").write_text(broken)
    (tmp_path / "pic.png").write_bytes(b"not a png")
    found = browser_check(tmp_path / "broken.html", tmp_path)
    assert found == {"images": 3, "decoded": 1, "fetched": 1}

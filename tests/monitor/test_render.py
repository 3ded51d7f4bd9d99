"""Views: the HTML heatmap is self-contained and faithful, the plot is written, the live view
renders."""

import io
import re

import numpy as np
import pytest

from emovec import Site
from emovec.monitor import (
    LiveView,
    Monitor,
    Rule,
    Threshold,
    Transcript,
    heatmap_html,
    plot_readings,
    save_heatmap,
)

from . import random_bundle, single_thread


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from single_thread()


@pytest.fixture(scope="module")
def events(tiny_backends):
    backend = tiny_backends["hf"]
    rule = Rule("r", Threshold("calm", above=-1e9, scale="raw"), phase="generated")
    monitor = Monitor(
        random_bundle(),
        sites=[Site(1), Site(2)],
        rules=[rule],
        keep_events=True,
        tokenizer=backend.tokenizer,
    )
    gen = backend.generate(
        ["<b>bold</b> & co"], max_new_tokens=4, observers=[monitor], stop_at_eos=False
    )
    monitor.finish(gen)
    return monitor.events


def test_transcript_rebuilds_a_row_from_events(events):
    t = Transcript.from_events(events, site="resid_post.2")
    tokens = [e for e in events if e["type"] == "token"]
    assert t.tokens == [e["token"] for e in tokens]
    assert (
        t.values[3, t.emotions.index("afraid")] == tokens[3]["readings"]["resid_post.2"]["afraid"]
    )
    assert t.scale == "raw" and set(t.phases) == {"prompt", "generated"}
    assert list(t.alerts.values()) == [["r"]]
    with pytest.raises(ValueError, match="was not monitored"):
        Transcript.from_events(events, site="resid_post.0")
    with pytest.raises(ValueError, match="no z-scores"):
        Transcript.from_events(events, scale="z")


def test_heatmap_is_self_contained_and_escapes_tokens(events, tmp_path):
    t = Transcript.from_events(events)
    page = heatmap_html(t, emotions=["calm", "afraid"], title="a <test>")
    assert not re.search(r"https?://|<script|<link|@import|src=", page)
    assert "&lt;" in page and "&amp;" in page and "<b>" not in page and "</b>" not in page
    assert page.count('<div class="t">') == 2
    # The strongest reading (after the attention sink) is fully saturated, zero is clear.
    assert "rgba(214,39,40,1.000)" in page or "rgba(31,119,180,1.000)" in page
    path = save_heatmap(tmp_path / "h.html", t)
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    with pytest.raises(ValueError, match="not in the transcript"):
        heatmap_html(t, emotions=["serene"])


def test_colour_follows_sign_and_size():
    t = Transcript(
        ["a", "b", "c", "d"],
        np.array([[9.0], [1.0], [-1.0], [0.0]]),
        ("x",),
        ["prompt"] * 4,
        "resid_post.0",
        "raw",
    )
    page = heatmap_html(t, skip=1)
    colours = re.findall(r'<span class="[^"]*" style="background:(rgba\([^)]*\))"', page)
    assert colours[1:] == [
        "rgba(214,39,40,1.000)",
        "rgba(31,119,180,1.000)",
        "rgba(31,119,180,0.000)",
    ]


def test_plot_writes_png_and_svg(events, tmp_path):
    paths = plot_readings(tmp_path / "r", Transcript.from_events(events), emotions=["calm"])
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_live_view_renders_alerts_and_text(events):
    from rich.console import Console

    out = io.StringIO()
    view = LiveView(["calm", "afraid"], console=Console(file=out, width=100, force_terminal=False))
    with view:
        for event in events:
            view(event)
    text = out.getvalue()
    assert "calm" in text and "alert" in text and "step 1: r" in text
    generated = "".join(
        e["token"] for e in events if e["type"] == "token" and e["phase"] == "generated"
    )
    assert view.text == generated

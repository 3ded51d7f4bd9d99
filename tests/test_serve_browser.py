"""The live page in headless Chromium against the real server: the default model answers a
pressure prompt from the shipped evaluation set, the reply streams in token by token with its
readings, the calibrated alert fires, and a screenshot shows the coloured transcript. With the
tiny model: a transcript is downloaded and reopened, and bad input shows its error on the page.

Vectors for the real test: `EMOVEC_TEST_BUNDLE`, else the main job's bundle
(runs/replicate/vectors, with its monitor calibration and evaluated threshold, as
`emovec monitor serve` uses them), else template vectors built and calibrated here.
"""

import argparse
import json
import os
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest

from emovec.monitor import load_eval_prompts
from emovec.serve import Engine, Limits, create_app, running
from emovec.serve._browser import chat_in_browser
from tests.monitor import random_bundle

ROOT = Path(__file__).parents[1]
JOB_BUNDLE = ROOT / "runs" / "replicate" / "vectors" / "emotion_vectors.safetensors"
pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
    reason="headless Chromium is not installed (apt-get install -y chromium; `make test` does)",
)


def real_engine(backend):
    """What `emovec monitor serve` builds, on an already loaded backend."""
    from emovec.cli import _serve

    path = os.environ.get("EMOVEC_TEST_BUNDLE") or (JOB_BUNDLE if JOB_BUNDLE.exists() else None)
    if path is not None:
        args = argparse.Namespace(vectors=Path(path), calibration=None, site=None, threshold=None)
        from emovec.vectors import EmotionVectors

        bundle = _serve._bundle(args.vectors)
        vectors = EmotionVectors.load(bundle)
        cal = _serve._calibration(args, bundle, vectors)
        from emovec.monitor import default_site

        site = default_site(vectors)
        defaults = _serve._rule_defaults(args, bundle, site, cal is not None)
        return Engine(backend, vectors, cal, site=site, defaults=defaults)
    from emovec import Site
    from emovec.extract import template_vectors
    from emovec.monitor import calibrate

    emotions = ["desperate", "afraid", "panicked", "calm"]
    neutral = [p.text for p in load_eval_prompts(split="calibration")]
    vectors = template_vectors(backend, emotions, neutral, sites=[Site(20)], progress=False)
    cal = calibrate(backend, vectors, prompts=neutral[:10], max_new_tokens=16, progress=False)
    return Engine(backend, vectors, cal, defaults={"threshold": 3.0, "sustain": 1})


def on_white(background: str) -> tuple[tuple[int, int, int], float]:
    """The colour `rgba(r, g, b, a)` (or `rgb(r, g, b)`) shows on a white page, and its alpha."""
    parts = [float(x) for x in background[background.index("(") + 1 : -1].split(",")]
    *rgb, alpha = parts if len(parts) == 4 else [*parts, 1.0]
    return tuple(round(255 * (1 - alpha) + c * alpha) for c in rgb), alpha


def pixels_near(image: np.ndarray, rgb: tuple[int, int, int], tol: int = 3) -> int:
    return int((np.abs(image[..., :3].astype(int) - np.array(rgb)).max(-1) <= tol).sum())


@pytest.mark.real
def test_a_pressure_prompt_streams_coloured_tokens_and_fires_the_alert(real_backends, tmp_path):
    from PIL import Image

    engine = real_engine(real_backends["hf"])
    prompt = next(p.text for p in load_eval_prompts() if p.label == "pressure")
    shot = tmp_path / "live.png"
    try:
        with running(create_app(engine)) as url:
            shown = chat_in_browser(url, prompt, screenshot=shot, fields={"max-new-tokens": "24"})
            record = httpx.get(f"{url}/api/transcripts/{shown['turn']['id']}").json()
    finally:
        engine.close()
    tokens = shown["tokens"]
    assert shown["status"].startswith("done") and len(tokens) >= 8 and shown["errors"] == []
    # streamed: the reply's tokens appeared over time, not all at once at the end
    arrivals = shown["arrivals"]
    assert len(arrivals) == len(tokens) and arrivals[-1] - arrivals[0] > 200
    assert all(t["background"].startswith(("rgba(", "rgb(")) for t in tokens)  # rgb: alpha 1
    # every token read: readings of the watched emotions on each
    token_events = [e for e in record["events"] if e["type"] == "token"]
    assert all(e["z"] is not None for e in token_events)
    fired = [a for e in token_events for a in e["alerts"]]
    assert fired and shown["alerts"] and shown["turn"]["alerts"] == len(fired)
    assert fired[0]["rule"] in shown["alerts"][0] and "flagged" in shown["alerts"][0]
    # the screenshot: the reply area shows the tokens' colours (each token's rgba over the
    # white page, as the page set them), and a good deal of it is tinted
    image = np.asarray(Image.open(shot).convert("RGB"))
    box = {k: int(v) for k, v in shown["reply_box"].items()}
    crop = image[box["y"] : box["y"] + box["height"], box["x"] : box["x"] + box["width"]]
    strongest = sorted((on_white(t["background"]) for t in tokens), key=lambda c: c[1])[-3:]
    for rgb, alpha in strongest:
        assert alpha > 0.3 and pixels_near(crop, rgb) > 20, (rgb, alpha)
    tinted = int((np.abs(crop.astype(int) - 255).max(-1) > 40).sum())
    assert tinted > 0.1 * crop.shape[0] * crop.shape[1]


@pytest.fixture(scope="module")
def tiny_url(tiny_backends):
    engine = Engine(tiny_backends["hf"], random_bundle(), defaults={"watch": ["calm"]})
    with running(create_app(engine, Limits(max_chars=100))) as url:
        yield url
    engine.close()


def test_a_downloaded_transcript_reopens_and_bad_input_shows_its_error(tiny_url, tmp_path):
    from playwright.sync_api import sync_playwright

    from emovec.serve._browser import chromium_path

    shown = chat_in_browser(tiny_url, "Hello!", fields={"max-new-tokens": "6"})
    record = httpx.get(f"{tiny_url}/api/transcripts/{shown['turn']['id']}").json()
    good, bad = tmp_path / "t.json", tmp_path / "bad.json"
    good.write_text(json.dumps(record))
    bad.write_text(json.dumps({**record, "events": record["events"][:-1]}))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(tiny_url)
        page.wait_for_selector("body[data-state=idle]")
        page.set_input_files("#open", str(good))
        page.wait_for_function("document.querySelectorAll('.turn').length === 1")
        reopened = page.locator(".turn .reply .tok").count()
        page.set_input_files("#open", str(bad))
        page.wait_for_function("document.getElementById('status').className === 'error'")
        bad_status = page.inner_text("#status")
        page.fill("#message", "x" * 100)
        page.evaluate("document.getElementById('message').removeAttribute('maxlength')")
        page.fill("#message", "x" * 101)
        page.click("#send")
        page.wait_for_function("document.getElementById('status').textContent.includes('413')")
        too_long = page.inner_text("#status")
        browser.close()
    assert reopened == len(shown["tokens"]) > 0 and shown["errors"] == []
    assert "finish with an end" in bad_status
    assert "limit is 100" in too_long

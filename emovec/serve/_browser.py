"""Drive the page in headless Chromium: send one message, wait for the reply, take a screenshot.

Used by `emovec monitor serve --screenshot` (the docs' screenshot) and by the tests. Needs the
`playwright` Python package and a Chromium on the PATH (`make browser`); no browser download.
"""

import shutil
from pathlib import Path
from typing import Any

VIEWPORT = {"width": 1400, "height": 900}


def chromium_path() -> str:
    """The system Chromium, or a clear error naming how to install it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError(
            "No Chromium on the PATH: install it (`make browser`, or apt-get install chromium)."
        )
    return found


def chat_in_browser(
    url: str,
    message: str,
    *,
    screenshot: "str | Path | None" = None,
    fields: dict[str, str] | None = None,
    timeout_s: float = 300,
) -> dict[str, Any]:
    """Open `url`, set `fields` (element id -> value), send `message`, wait until the reply ends.

    Returns what the page shows: `status`, the reply's `tokens` (text and background colour
    each), `alerts` (the alert list's lines), `arrivals` (page time in ms at which each reply
    token appeared), `reply_box` (where the reply is on the page, CSS pixels) and `turn` (the
    page's own record of the turn: transcript id, alert and token counts) and `errors` (script
    errors the page raised). Writes a PNG of the page to `screenshot` when given.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RuntimeError(
            "Driving the page needs playwright: pip install 'emovec[dev]' (no browser download:"
            " the system Chromium is used)."
        ) from None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(url)
            page.wait_for_selector("body[data-state=idle]", timeout=timeout_s * 1000)
            for element, value in (fields or {}).items():
                if element in ("action", "colour-by"):
                    page.select_option(f"#{element}", value)
                else:
                    page.fill(f"#{element}", value)
            page.fill("#message", message)
            # when each reply token appears (ms), to show that the reply streams in
            page.evaluate(
                """() => { window.arrivals = [];
                  new MutationObserver((records) => { for (const r of records)
                    for (const n of r.addedNodes)
                      if (n.classList && n.classList.contains('tok') &&
                          n.parentElement.classList.contains('reply'))
                        window.arrivals.push(performance.now()); })
                  .observe(document.getElementById('turns'), {childList: true, subtree: true}); }"""
            )
            page.click("#send")
            page.wait_for_selector("body[data-state=done]", timeout=timeout_s * 1000)
            result = page.evaluate(
                """() => ({
                  status: document.getElementById('status').textContent,
                  tokens: Array.from(document.querySelectorAll('.turn:last-child .reply .tok'))
                    .map(s => ({text: s.textContent, background: s.style.background})),
                  alerts: Array.from(document.querySelectorAll('#alerts li'))
                    .map(li => li.textContent),
                  arrivals: window.arrivals,
                  reply_box: (() => { const r = document.querySelector('.turn:last-child .reply');
                    if (!r) return null; const b = r.getBoundingClientRect();
                    return {x: b.x, y: b.y, width: b.width, height: b.height}; })(),
                  turn: {id: window.emovec.current && window.emovec.current.id,
                         alerts: window.emovec.current ? window.emovec.current.alerts.length : 0,
                         tokens: window.emovec.current ? window.emovec.current.tokens.length : 0},
                })"""
            )
            result["errors"] = errors
            if screenshot is not None:
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
            return result
        finally:
            browser.close()

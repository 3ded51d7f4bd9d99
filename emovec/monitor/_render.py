"""Views of monitored text: a token heatmap (self-contained HTML), a readings plot (PNG/SVG),
and a live terminal view (`rich`, optional).

All three start from a `Transcript`: one row of one generation, rebuilt from the event stream
(`Transcript.from_events`), so a saved JSONL file can be rendered again at any time.
"""

import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emovec._files import write_atomic


@dataclass
class Transcript:
    """One row's tokens and readings `[pos, emotion]` at one site, with phases and alerts."""

    tokens: list[str]
    values: np.ndarray
    emotions: tuple[str, ...]
    phases: list[str]
    site: str
    scale: str
    alerts: dict[int, list[str]] = field(default_factory=dict)  # token index -> rule names

    @classmethod
    def from_events(
        cls,
        events: Sequence[dict[str, Any]],
        *,
        generation: int | None = None,
        row: int = 0,
        site: str | None = None,
        scale: str = "auto",
    ) -> "Transcript":
        """Rebuild a transcript from events (default: the last generation, its first site).

        `scale` "auto" uses z-scores when the stream has them, else raw readings.
        """
        headers = [e for e in events if e.get("type") == "header"]
        if not headers:
            raise ValueError("The event stream has no header event: is it a monitor stream?")
        gen = headers[-1]["generation"] if generation is None else generation
        header = next((h for h in headers if h["generation"] == gen), None)
        if header is None:
            raise ValueError(f"No generation {gen} in the event stream.")
        site = site if site is not None else str(header["sites"][0])
        if site not in header["sites"]:
            raise ValueError(f"Site {site} was not monitored (sites: {header['sites']}).")
        toks = [
            e
            for e in events
            if e.get("type") == "token" and e["generation"] == gen and e["row"] == row
        ]
        if not toks:
            raise ValueError(f"No tokens for row {row} of generation {gen}.")
        use_z = scale == "z" or (scale == "auto" and toks[0]["z"] is not None)
        if use_z and toks[0]["z"] is None:
            raise ValueError("The stream has no z-scores (no calibration); use scale='raw'.")
        key = "z" if use_z else "readings"
        emotions = tuple(header["emotions"])
        values = np.array([[t[key][site][e] for e in emotions] for t in toks], dtype=np.float64)
        alerts = {i: [a["rule"] for a in t["alerts"]] for i, t in enumerate(toks) if t["alerts"]}
        return cls(
            [t["token"] if t["token"] is not None else f"<{t['token_id']}>" for t in toks],
            values,
            emotions,
            [t["phase"] for t in toks],
            site,
            "z" if use_z else "raw",
            alerts,
        )

    def top(self, n: int, *, skip: int = 1) -> list[str]:
        """The `n` emotions with the largest peak |reading| (ignoring the first `skip` tokens)."""
        peak = np.abs(self.values[skip:] if len(self.values) > skip else self.values).max(0)
        return [self.emotions[i] for i in np.argsort(-peak, kind="stable")[:n]]


def _colour(value: float, scale: float) -> str:
    alpha = min(abs(value) / scale, 1.0) if scale > 0 else 0.0
    rgb = "214,39,40" if value > 0 else "31,119,180"
    return f"rgba({rgb},{alpha:.3f})"


def heatmap_html(
    transcript: Transcript,
    *,
    emotions: Sequence[str] | None = None,
    top: int = 6,
    title: str = "emovec monitor",
    skip: int = 1,
) -> str:
    """A self-contained HTML page (inline CSS, no scripts, no network) colouring each token.

    One paragraph per emotion: red for positive, blue for negative, opacity scaled by the 99th
    percentile of |reading| over the transcript (the paper's display scaling; tokens before
    `skip` are left out of the scale, as position 0 is an attention sink). Hovering a token
    shows its readings; generated tokens are underlined, alerts boxed.

    Example:
        >>> t = Transcript(["Hi", " there"], np.array([[0.0], [2.0]]), ("calm",),
        ...                ["prompt", "generated"], "resid_post.1", "raw", {1: ["r"]})
        >>> page = heatmap_html(t)
        >>> "<html" in page and "http" not in page and "calm" in page
        True
    """
    names = list(emotions) if emotions is not None else transcript.top(top, skip=skip)
    for e in names:
        if e not in transcript.emotions:
            raise ValueError(
                f"Emotion {e!r} is not in the transcript ({len(transcript.emotions)} read)."
            )
    idx = [transcript.emotions.index(e) for e in names]
    body = transcript.values[:, idx]
    tail = np.abs(body[skip:] if len(body) > skip else body)
    scale = float(np.percentile(tail, 99)) if tail.size else 1.0
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>",
        "body{font-family:system-ui,sans-serif;margin:1.5em;max-width:70em;color:#222}",
        "h1{font-size:1.2em}h2{font-size:1em;margin:1.2em 0 .3em}",
        ".t{font-family:ui-monospace,monospace;white-space:pre-wrap;line-height:1.9}",
        ".t span{padding:1px 0;border-radius:2px}",
        ".g{text-decoration:underline;text-decoration-color:#999}",
        ".a{outline:2px solid #000}",
        ".legend span{display:inline-block;width:3em;text-align:center;margin-right:.3em}",
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>site {html.escape(transcript.site)}, {html.escape(transcript.scale)} readings;"
        f" colour saturates at |value| = {scale:.3g} (99th percentile). Underlined: generated;"
        " boxed: a rule fired.</p>",
        '<p class="legend">'
        + "".join(
            f'<span style="background:{_colour(v, 1.0)}">{v:+.1f}</span>'
            for v in (-1.0, -0.5, 0.5, 1.0)
        )
        + " (fractions of the scale)</p>",
    ]
    for k, emotion in enumerate(names):
        parts.append(f'<h2>{html.escape(emotion)}</h2><div class="t">')
        spans = []
        for i, token in enumerate(transcript.tokens):
            cls = ("g " if transcript.phases[i] == "generated" else "") + (
                "a" if i in transcript.alerts else ""
            )
            tip = ", ".join(
                f"{e} {transcript.values[i, j]:+.2f}" for e, j in zip(names, idx, strict=True)
            )
            if i in transcript.alerts:
                tip += " | alert: " + ", ".join(transcript.alerts[i])
            spans.append(
                f'<span class="{cls.strip()}" style="background:{_colour(body[i, k], scale)}"'
                f' title="{html.escape(tip)}">{html.escape(token)}</span>'
            )
        parts.append("".join(spans) + "</div>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def save_heatmap(path: "str | Path", transcript: Transcript, **kwargs: Any) -> Path:
    """Write `heatmap_html(transcript, **kwargs)` atomically."""
    return write_atomic(path, heatmap_html(transcript, **kwargs).encode("utf-8"))


def plot_readings(
    stem: "str | Path",
    transcript: Transcript,
    *,
    emotions: Sequence[str] | None = None,
    top: int = 6,
    title: str = "probe readings over tokens",
    skip: int = 1,
) -> list[Path]:
    """Readings of some emotions over token positions, as `stem.png` and `stem.svg`.

    Tokens before `skip` are not drawn (attention sink); generated tokens are shaded and
    alerts marked with vertical lines.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(emotions) if emotions is not None else transcript.top(top, skip=skip)
    x = np.arange(len(transcript.tokens))[skip:]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    try:
        for e in names:
            ax.plot(x, transcript.values[skip:, transcript.emotions.index(e)], label=e, lw=1.4)
        gen = [i for i, p in enumerate(transcript.phases) if p == "generated"]
        if gen:
            ax.axvspan(gen[0] - 0.5, gen[-1] + 0.5, color="0.92", zorder=0, label="generated")
        for i in transcript.alerts:
            ax.axvline(i, color="k", lw=0.8, ls="--")
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_xlabel("token position")
        ax.set_ylabel(f"{transcript.scale} reading ({transcript.site})")
        ax.set_title(title)
        ax.legend(fontsize=7, ncol=2, loc="upper left")
        fig.tight_layout()
        paths = []
        for ext in ("png", "svg"):
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, dpi=130)
            paths.append(write_atomic(Path(stem).with_suffix(f".{ext}"), buf.getvalue()))
    finally:
        plt.close(fig)
    return paths


class LiveView:
    """A live terminal view of a monitored generation (a monitor listener; needs `rich`).

    Shows the text so far and, for the watched emotions, the latest reading with a bar, and
    the alerts. Use as a context manager around `generate`.
    """

    def __init__(self, emotions: Sequence[str], *, site: str | None = None, console: Any = None):
        try:
            from rich.console import Console
            from rich.live import Live
        except ModuleNotFoundError:
            raise ImportError(
                "The live view needs rich: `pip install rich` (or drop --live)."
            ) from None
        self.emotions = list(emotions)
        self.site = site
        self.text = ""
        self.latest: dict[str, float] = {}
        self.alerts: list[str] = []
        self.scale = "raw"
        self.console = console or Console(stderr=True)
        self.live = Live(
            self._render(), console=self.console, refresh_per_second=8, transient=False
        )

    def __enter__(self) -> "LiveView":
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.update(self._render())
        self.live.__exit__(*exc)

    def __call__(self, event: dict[str, Any]) -> None:
        if event["type"] == "header":
            self.site = self.site or event["sites"][0]
            self.scale = "z" if event["calibrated"] else "raw"
            return
        if event["type"] != "token" or event["row"] != 0:
            return
        table = event["z"] if event["z"] is not None else event["readings"]
        self.latest = {e: table[self.site][e] for e in self.emotions if e in table[self.site]}
        if event["phase"] == "generated" and event["token"] is not None:
            self.text += event["token"]
        for a in event["alerts"]:
            self.alerts.append(f"step {event['step']}: {a['rule']}")
        for a in event["actions"]:
            if a["kind"] != "record":
                self.alerts.append(f"step {event['step']}: action {a['kind']}")
        self.live.update(self._render())

    def _render(self) -> Any:
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table

        table = Table(title=f"{self.scale} readings at {self.site}", expand=False)
        table.add_column("emotion")
        table.add_column("value", justify="right")
        table.add_column("")
        for e in self.emotions:
            v = self.latest.get(e, 0.0)
            bar = ("█" * min(int(abs(v) * 4), 20)) or "·"
            table.add_row(e, f"{v:+.2f}", f"[{'red' if v > 0 else 'blue'}]{bar}")
        alerts = "\n".join(self.alerts[-6:]) or "none"
        return Group(
            Panel(self.text or "…", title="generated"), table, Panel(alerts, title="alerts")
        )

"""The main job's results as one Markdown page, our numbers next to the paper's.

Written by `emovec replicate` into its run folder (`results.md`) and, with `--markdown PATH`,
to `docs/results.md`: the page is generated from the run's own outputs, never typed by hand.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

# What the paper (Sofroniew et al. 2026, on Claude) and open replications report for each
# headline check; see ../shared/reference/method.md.
PAPER: dict[str, str] = {
    "valence r (PC1, best site)": "PC1 vs valence r = 0.81 (Claude); open 8B models 0.76-0.83",
    "valence r (PC1 or PC2, best)": "-",
    "valence readout r (leave-one-emotion-out ridge)": "not reported",
    "arousal readout r (leave-one-emotion-out ridge)": "not reported",
    "arousal r (PC1 at that site)": "PC2 vs arousal r = 0.66 (Claude); open models <= 0.45",
    "held-out top-1 (story vectors)": "not reported (community: top-3 recall 83%, Gemma-2-2B)",
    "held-out top-1 (template control)": "-",
    "monitor AUROC (default site)": "not reported (this library's own evaluation set)",
    "monitor demo": "-",
}
PAPER_PREFIXES: dict[str, str] = {
    "tylenol rho(dose, afraid)": "afraid rises with the dose (Claude; community rho = 0.75)",
    "tylenol rho(dose, calm)": "calm falls with the dose (Claude)",
    "steer desperate +": "blackmail 22% -> 72%; reward hacking up to ~70% (strength 0.05-0.1)",
    "steer desperate -": "blackmail 22% -> 0%",
    "steer calm +": "blackmail 22% -> 0%; reward hacking ~65% -> 10%",
    "steer calm -": "blackmail 22% -> 66%",
}


def paper_value(check: str) -> str:
    """The paper's counterpart of one headline check ("-" when there is none)."""
    if check in PAPER:
        return PAPER[check]
    return next((v for k, v in PAPER_PREFIXES.items() if check.startswith(k)), "-")


def results_markdown(
    *,
    model: str,
    command: str,
    headline: Mapping[str, Any],
    seconds: Mapping[str, Any],
    sections: Mapping[str, str],
    run_settings: str = "",
) -> str:
    """The page: headline table (ours | paper), stage timings, then each stage's own text.

    Example:
        >>> page = results_markdown(model="m", command="emovec replicate", headline={"x": 1},
        ...                         seconds={"vectors": 2.0}, sections={"Notes": "fine"})
        >>> "| x | 1 | - |" in page and "## Notes" in page
        True
    """
    lines = [
        "# Results on the default model (generated)",
        "",
        f"Written by `{command}` from its own outputs; do not edit by hand. Model: `{model}`"
        + (f" ({run_settings})." if run_settings else "."),
        "The paper's figures come from a far larger model; a 135M-parameter model is expected to",
        "fall short of some of them, and the verdicts below say where it does.",
        "",
        "## Headline",
        "",
        "| check | ours | paper / replications |",
        "|---|---|---|",
    ]
    for check, value in headline.items():
        lines.append(f"| {_cell(check)} | {_cell(value)} | {_cell(paper_value(check))} |")
    lines += ["", "Stage times (s): " + ", ".join(f"{k} {v}" for k, v in seconds.items()), ""]
    for title, text in sections.items():
        lines += [f"## {title}", "", text.rstrip(), ""]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def fenced(text: str) -> str:
    """Plain text (a fixed-width table) as a Markdown code block."""
    return "```text\n" + text.rstrip() + "\n```"


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return "(missing)"

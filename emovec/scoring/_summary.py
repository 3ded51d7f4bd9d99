"""The summary of a scoring run (also written to `summary.json`)."""

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ScoreSummary:
    """What a scoring run did."""

    documents: int = 0
    tokens: int = 0
    lines: int = 0
    blank_lines: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    flagged: dict[str, int] = field(default_factory=dict)
    kept: int | None = None
    resumed_from_line: int = 0
    seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["bad_lines"] = [{"line": n, "reason": r} for n, r in self.bad_lines]
        return {"format": "emovec.score-summary/1", **out}

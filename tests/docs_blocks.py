"""The shell and Python blocks of docs/, and the marks that say how the docs test runs them.

A mark is an HTML comment on the line right above a fenced block (invisible on the site):

    <!-- docs-test: skip: REASON -->    not run; the reason is required (e.g. "installs packages")
    <!-- docs-test: real -->            run by the test marked `real` (the embedded model)
    <!-- docs-test: raises NAME -->     run by the fast test; must raise exception class NAME

A block without a mark is run by the fast test. A page may carry
`<!-- docs-test-page: skip: REASON -->` (or `real`) once: it applies to every block of the page
without its own mark. Blocks of one page run in page order, in one temporary working
directory; Python blocks share one namespace, shell blocks run with `bash -e`.
"""

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = {"bash": "shell", "sh": "shell", "shell": "shell", "console": "shell"}
LANGUAGES |= {"python": "python", "py": "python", "pycon": "python"}
_FENCE = re.compile(r"^(\s*)```(\w+)")
_MARK = re.compile(r"<!--\s*docs-test(-page)?:\s*(skip|real|raises)\b:?\s*(.*?)\s*-->")


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    language: str  # "shell" or "python"
    code: str
    mode: str  # "fast", "real", "raises" or "skip"
    detail: str  # the skip reason or the exception class

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def _mark(text: str) -> tuple[str, str] | None:
    found = _MARK.search(text)
    return None if found is None else (found.group(2), found.group(3))


def page_blocks(path: Path) -> list[Block]:
    """The shell and Python blocks of one page with their marks."""
    lines = path.read_text(encoding="utf-8").splitlines()
    page = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    default = None
    for line in lines:
        found = _MARK.search(line)
        if found is not None and found.group(1):
            default = (found.group(2), found.group(3))
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith("```"):
            end += 1
        language = LANGUAGES.get(fence.group(2).lower())
        if language is not None:
            above = next((s for s in reversed(lines[:i]) if s.strip()), "")
            own = _mark(above) if "docs-test-page" not in above else None
            mode, detail = own or default or ("fast", "")
            indent = len(fence.group(1))
            code = "\n".join(s[indent:] for s in lines[i + 1 : end]) + "\n"
            blocks.append(Block(page, i + 1, language, code, mode, detail))
        i = end + 1
    return blocks


def all_blocks() -> list[Block]:
    return [b for p in sorted((ROOT / "docs").rglob("*.md")) for b in page_blocks(p)]

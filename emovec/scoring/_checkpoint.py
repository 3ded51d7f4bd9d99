"""Resuming a scoring run: the checkpoint written after every window, and its checks.

The checkpoint (`checkpoint.json`) records the lines done, the sizes of the partial outputs
and a hash of the corpus prefix read, next to the run's settings (its fingerprint). A rerun
resumes only with the same settings on an unchanged corpus prefix, and cuts the partial outputs
back to the sizes recorded, so that its outputs are byte-identical to an uninterrupted run.
"""

import hashlib
import json
from pathlib import Path
from typing import Any, BinaryIO

from emovec._files import write_json

from ._summary import ScoreSummary

FORMAT = "emovec.score-checkpoint/1"


def _start_state(
    paths: dict[str, Path],
    partial: dict[str, Path],
    fingerprint: dict[str, Any],
    *,
    resume: bool,
    overwrite: bool,
) -> dict[str, Any]:
    fresh = {
        "lines_done": 0,
        "bytes_read": 0,
        "prefix_sha256": hashlib.sha256().hexdigest(),
        "profiles_bytes": 0,
        "filtered_bytes": 0,
        "documents": 0,
        "tokens": 0,
        "blank_lines": 0,
        "bad_lines": [],
        "flagged": {},
        "kept": 0,
    }
    ckpt = paths["checkpoint"]
    if resume and ckpt.exists():
        try:
            saved = json.loads(ckpt.read_text())
            if saved.get("format") != FORMAT:
                raise ValueError(f"format {saved.get('format')!r}")
        except (OSError, ValueError) as err:
            raise ValueError(
                f"Cannot resume from {ckpt} ({err}): delete it or start over (CLI: --force)."
            ) from None
        theirs = saved.get("fingerprint") or {}
        ours = json.loads(json.dumps(fingerprint))
        diff = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        if diff:
            raise ValueError(
                f"{ckpt} is from a run with other settings ({', '.join(diff[:5])} differ):"
                " rerun with those settings, or start over (CLI: --force)."
            )
        for key, size in (
            ("profiles", saved["profiles_bytes"]),
            ("filtered", saved["filtered_bytes"]),
        ):
            path = partial[key]
            have = path.stat().st_size if path.exists() else 0
            if have < size:
                raise ValueError(
                    f"{path} is shorter than the checkpoint says ({have} < {size} bytes): the"
                    " partial output was damaged. Start over (CLI: --force)."
                )
            if path.exists():
                with open(path, "r+b") as handle:  # drop what was written after the checkpoint
                    handle.truncate(size)
        return {**fresh, **saved}
    if not overwrite and not ckpt.exists() and paths["profiles"].exists():
        raise ValueError(
            f"{paths['profiles']} already exists from a finished run: pass overwrite=True"
            " (CLI: --force) to score again, or choose another --out."
        )
    for key in ("profiles", "filtered"):
        partial[key].unlink(missing_ok=True)
    ckpt.unlink(missing_ok=True)
    return fresh


def _skip_prefix(source: BinaryIO, state: dict[str, Any], hasher: Any, corpus: Path) -> None:
    """Re-read the lines a checkpoint covers, checking that the corpus has not changed."""
    for _ in range(state["lines_done"]):
        raw = source.readline()
        if not raw:
            break
        hasher.update(raw)
    if source.tell() != state["bytes_read"] or hasher.hexdigest() != state["prefix_sha256"]:
        raise ValueError(
            f"{corpus} changed since the checkpoint (its first {state['lines_done']} lines differ):"
            " start over (CLI: --force)."
        )


def _save_checkpoint(
    path: Path,
    fingerprint: dict[str, Any],
    summary: ScoreSummary,
    state: dict[str, Any],
    hasher: Any,
    profiles_out: BinaryIO,
    filtered_out: BinaryIO | None,
) -> None:
    state.update(
        lines_done=summary.lines,
        prefix_sha256=hasher.hexdigest(),
        profiles_bytes=profiles_out.tell(),
        filtered_bytes=filtered_out.tell() if filtered_out is not None else 0,
        documents=summary.documents,
        tokens=summary.tokens,
        blank_lines=summary.blank_lines,
        bad_lines=[list(b) for b in summary.bad_lines],
        flagged=summary.flagged,
        kept=summary.kept or 0,
    )
    body = {"format": FORMAT, "fingerprint": fingerprint, **state}
    write_json(path, body, indent=None)

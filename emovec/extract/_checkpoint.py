"""Resumable extraction: running statistics and processed record ids, saved atomically.

A checkpoint is one safetensors file: the statistics' float64 state tensors, and in the header
JSON with the run's fingerprint (model, sites, recipe settings that change the statistics), the
emotion order and the ids of the records already folded in. It is rewritten (temp file, fsync,
rename) every `every` batches, so a run killed at any moment leaves the last complete one.
Because batches are a function of the record stream alone (see `_capture`), a resumed run
redoes exactly the batches after the checkpoint and ends with the same statistics.
"""

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save
from torch import Tensor

from emovec.vectors import write_atomic

FORMAT = "emovec.checkpoint/1"
_KEY = "emovec.checkpoint"


class CheckpointMismatchError(ValueError):
    """A checkpoint from a run with other settings, model or corpus."""


class Checkpoint:
    """Tracks processed ids per phase and saves the statistics every `every` batches.

    Args:
        path: The checkpoint file (created on the first save).
        fingerprint: JSON data that must match for a resume (model, sites, recipe settings).
        state: Called at save time for the statistics' tensors and extra JSON (emotion order).
        every: Batches between saves.
    """

    def __init__(
        self,
        path: "str | os.PathLike[str]",
        fingerprint: dict[str, Any],
        state: Callable[[], tuple[dict[str, Tensor], dict[str, Any]]],
        *,
        every: int = 20,
    ) -> None:
        if every < 1:
            raise ValueError(f"checkpoint_every must be positive, got {every}.")
        self.path = Path(path)
        # A JSON round trip, so the comparison on resume sees what the file will hold.
        self.fingerprint = json.loads(json.dumps(fingerprint))
        self.state = state
        self.every = every
        self.processed: dict[str, set[str]] = {}
        self.pending = 0
        self.saves = 0

    def done(self, phase: str) -> Callable[[str], bool]:
        """A predicate for `capture_stream(done=...)`: was this id of `phase` folded in?"""
        ids = self.processed.setdefault(phase, set())
        return ids.__contains__

    def mark(self, phase: str, ids: Iterable[str]) -> None:
        """Record a folded-in batch; save when `every` batches have accumulated."""
        self.processed.setdefault(phase, set()).update(ids)
        self.pending += 1
        if self.pending >= self.every:
            self.save()

    def save(self, *, complete: bool = False) -> None:
        tensors, extra = self.state()
        header = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "processed": {phase: sorted(ids) for phase, ids in self.processed.items()},
            "complete": complete,
            **extra,
        }
        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        write_atomic(self.path, _st_save(tensors, metadata={_KEY: json.dumps(header)}))
        self.pending = 0
        self.saves += 1

    def load(self) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
        """The saved `(tensors, header)`, or None if there is no file yet.

        Raises:
            CheckpointMismatchError: The file belongs to a run with other settings.
            ValueError: The file is corrupt (the message names it and the way out).
        """
        if not self.path.exists():
            return None
        tensors, header = read_checkpoint(self.path)
        theirs = header.get("fingerprint") or {}
        diff = sorted(
            k
            for k in set(theirs) | set(self.fingerprint)
            if theirs.get(k) != self.fingerprint.get(k)
        )
        if diff:
            shown = "; ".join(
                f"{k}: {_short(theirs.get(k))} then, {_short(self.fingerprint.get(k))} now"
                for k in diff[:4]
            )
            raise CheckpointMismatchError(
                f"Checkpoint {self.path} is from a run with other settings ({shown}). Start over"
                " (CLI: --force) or rerun with the settings it was made with."
            )
        self.processed = {p: set(ids) for p, ids in (header.get("processed") or {}).items()}
        return tensors, header


def read_checkpoint(path: "str | os.PathLike[str]") -> tuple[dict[str, Tensor], dict[str, Any]]:
    """`(tensors, header)` of a checkpoint file; a clear `ValueError` if it is unreadable."""
    path = Path(path)
    try:
        data = path.read_bytes()
        tensors = _st_load(data)
        size = int.from_bytes(data[:8], "little")
        header = json.loads(json.loads(data[8 : 8 + size])["__metadata__"][_KEY])
        if header.get("format") != FORMAT:
            raise ValueError(f"format {header.get('format')!r}, expected {FORMAT!r}")
    except (OSError, SafetensorError, ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"Cannot resume from {path}: not a readable emovec checkpoint ({err}). Delete it or"
            " start over (CLI: --force)."
        ) from None
    return tensors, header


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."

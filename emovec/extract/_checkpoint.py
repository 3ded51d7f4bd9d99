"""Resumable extraction: running statistics and processed record ids, saved atomically.

A checkpoint is one safetensors file: the statistics' float64 state tensors, and in the header
JSON with the run's fingerprint (the corpus content's digest, model, adapter, dtype, sites and
every recipe setting that changes the statistics; see `run_fingerprint`), the emotion order and
the ids of the records already folded in. A resume whose fingerprint differs in anything is
refused with the differences named, never mixed. It is rewritten (temp file, fsync,
rename) every `every` batches, so a run killed at any moment leaves the last complete one.
Because batches are a function of the record stream alone (see `_capture`), a resumed run
redoes exactly the batches after the checkpoint and ends with the same statistics.
"""

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save
from torch import Tensor

from emovec._site import Site
from emovec.vectors import write_atomic

from ._items import corpus_summary, reiterable

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
                f"{_name(k)}: {_short(k, theirs.get(k))} then, {_short(k, self.fingerprint.get(k))}"
                " now"
                for k in diff[:4]
            )
            raise CheckpointMismatchError(
                f"Checkpoint {self.path} is from a run with other settings or data ({shown}): its"
                " statistics cannot be mixed with this run's. Start over (CLI: --force, or delete"
                " the checkpoint) or rerun with what it was made with."
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


def _name(key: str) -> str:
    return "corpus content" if key == "corpus" else key


def _short(key: str, value: Any) -> str:
    if key == "corpus" and isinstance(value, dict):
        return (
            f"sha256 {str(value.get('sha256'))[:12]}... ({value.get('n_stories')} stories,"
            f" {value.get('n_neutral')} neutral)"
        )
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def run_fingerprint(
    backend: Any,
    stories: Iterable[Any] | None,
    neutral: Iterable[Any] | None,
    sites: Sequence[Site],
    emotions: Sequence[str] | None,
    limit: int,
    digest: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a checkpoint must share with the run that resumes it, besides the recipe settings:
    the corpus content (a digest of every record, read once before any forward, so that an
    edited story or another `--per-emotion`/`--max-neutral` selection is noticed), the model,
    adapter, dtype, sites, emotion list and token limit. `digest`: `corpus_summary` of the
    same corpus when the caller has it already (saves a read)."""
    if digest is None and not (reiterable(stories) and reiterable(neutral)):
        raise ValueError(
            "A checkpointed extraction reads the corpus twice (its digest keys the checkpoint):"
            " pass a list or a re-iterable reader, not a one-shot iterator, or drop checkpoint=."
        )
    provenance = backend.provenance
    return {
        "corpus": dict(digest) if digest else corpus_summary(stories or (), neutral),
        "model_id": backend.model_id,
        "weights_sha256": provenance.weights_sha256,
        "adapter": provenance.adapter,
        "dtype": provenance.dtype,
        "compatibility_mode": provenance.compatibility_mode,
        "d_model": int(backend.d_model),
        "n_layers": int(backend.n_layers),
        "sites": [str(s) for s in sites],
        "emotions": None if emotions is None else list(emotions),
        "neutral": neutral is not None,
        "token_limit": limit,
    }

"""Corpus scoring: per-document emotion profiles, rule flags and rule-based filtering.

A corpus (JSONL records with a text field, or plain text with one document per line) streams
through the model in windows of `window` lines; each window is tokenised, length-bucketed into
batches of at most `batch_tokens` padded tokens, and each batch is one forward in which a
reducer inside the hook projects every site's activations onto the probe basis, so that only
`[batch, pos, k]` numbers (k <= d_model) leave the model. Per document: the mean, max and
percentiles of each probe over its tokens from token `start` on, and the rules that fired.

Outputs (in the folder `out`): `profiles.jsonl` (one line per scored document, in corpus order),
`filtered.jsonl` (the original lines of documents that a filter rule flagged, when filter rules
are given) and `summary.json`. They are written as `*.partial` files and renamed into place at
the end (atomic). After every window a checkpoint (`checkpoint.json`: lines done, output sizes,
a hash of the corpus prefix read) is rewritten atomically; a rerun resumes after the last
complete window and produces byte-identical outputs. Bad lines (not JSON, no text, no tokens,
not UTF-8) are reported with their line numbers, skipped, and listed in the summary.
"""

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from emovec._files import write_json
from emovec._site import Site
from emovec.extract import bucket
from emovec.monitor._calibration import Calibration
from emovec.monitor._rules import Rule
from emovec.vectors import EmotionVectors

from ._checkpoint import _save_checkpoint, _skip_prefix, _start_state
from ._corpus import JSON_SUFFIXES, Line, _lines, _take, parse_line
from ._scorer import DocumentScorer
from ._summary import ScoreSummary

PROFILE_FORMAT = "emovec.scores/1"
_FILES = {
    "profiles": "profiles.jsonl",
    "filtered": "filtered.jsonl",
    "summary": "summary.json",
    "checkpoint": "checkpoint.json",
}


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def score_corpus(
    backend: Any,
    vectors: EmotionVectors,
    corpus: "str | os.PathLike[str]",
    out: "str | os.PathLike[str]",
    *,
    emotions: Sequence[str] | None = None,
    sites: "Sequence[Site | str | int] | None" = None,
    start: int = 1,
    percentiles: Sequence[float] = (90.0,),
    rules: Sequence[Rule] = (),
    filter_rules: Sequence[Rule] = (),
    calibration: Calibration | None = None,
    scale: str = "raw",
    text_field: str = "text",
    batch_tokens: int = 4096,
    window: int = 256,
    max_tokens: int | None = 1024,
    resume: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    report: Callable[[str], None] = _stderr,
) -> ScoreSummary:
    """Score every document of `corpus`, writing profiles (and a filtered corpus) into `out`.

    Args:
        backend: An emovec backend.
        vectors: The bundle.
        corpus: A `.jsonl` file (records with `text_field`; an `id` field is carried over) or
            any other file read as plain text, one document per line. Blank lines are counted,
            not scored.
        out: Output folder (see the module docstring for its files).
        emotions, sites, start, percentiles, calibration, scale: See `DocumentScorer`.
        rules: Rules that flag documents.
        filter_rules: Rules that flag documents and select them: a document is kept (its
            original line copied to `filtered.jsonl`) when any of them fired.
        text_field: The JSON field holding the text.
        batch_tokens: Padded tokens per forward.
        window: Lines read, sorted and scored together (also the checkpoint interval).
        max_tokens: Truncate longer documents (None: keep whole; mind the model's context).
        resume: Continue from `out/checkpoint.json` if present.
        overwrite: Replace finished outputs already in `out`.
        progress: Show a progress bar (bytes of the corpus) on stderr.
        report: Called with one line per bad line (default: print to stderr).

    Returns:
        A `ScoreSummary` (also written to `out/summary.json`).
    """
    corpus, out = Path(corpus), Path(out)
    _check(corpus, batch_tokens, window, max_tokens, [*rules, *filter_rules])
    scorer = DocumentScorer(
        backend,
        vectors,
        emotions=emotions,
        sites=sites,
        start=start,
        percentiles=percentiles,
        rules=[*rules, *filter_rules],
        calibration=calibration,
        scale=scale,
    )
    keep_names = {r.name for r in filter_rules}
    fingerprint = scorer.fingerprint | {"filter": sorted(keep_names), "text_field": text_field}
    fingerprint |= {"batch_tokens": batch_tokens, "window": window, "max_tokens": max_tokens}
    paths = {k: out / name for k, name in _FILES.items()}
    partial = {k: paths[k].with_name(paths[k].name + ".partial") for k in ("profiles", "filtered")}
    out.mkdir(parents=True, exist_ok=True)
    state = _start_state(paths, partial, fingerprint, resume=resume, overwrite=overwrite)
    run = _Run(
        backend,
        scorer,
        corpus.suffix.lower() in JSON_SUFFIXES,
        text_field,
        window,
        batch_tokens,
        max_tokens,
        keep_names,
        _resumed_summary(state, filtering=bool(filter_rules)),
        state,
        hashlib.sha256(),
        lambda message: report(f"{corpus}, {message}"),  # every bad-line message names the file
        paths["checkpoint"],
        fingerprint,
    )
    started = time.perf_counter()
    with open(corpus, "rb") as source:
        _skip_prefix(source, state, run.hasher, corpus)
        profiles_out = open(partial["profiles"], "ab")  # noqa: SIM115
        filtered_out = open(partial["filtered"], "ab") if filter_rules else None  # noqa: SIM115
        try:
            run.all_windows(source, profiles_out, filtered_out, corpus.stat().st_size, progress)
        finally:
            profiles_out.close()
            if filtered_out is not None:
                filtered_out.close()
    summary = run.summary
    summary.seconds = round(time.perf_counter() - started, 3)
    _finish(paths, partial, bool(filter_rules), summary, fingerprint, corpus)
    return summary


@dataclass
class _Run:
    """One scoring run's settings and running state, window after window."""

    backend: Any
    scorer: DocumentScorer
    json_lines: bool
    text_field: str
    window: int
    batch_tokens: int
    max_tokens: int | None
    keep_names: set[str]
    summary: ScoreSummary
    state: dict[str, Any]
    hasher: Any
    report: Callable[[str], None]
    checkpoint: Path
    fingerprint: dict[str, Any]

    def all_windows(
        self,
        source: BinaryIO,
        profiles_out: BinaryIO,
        filtered_out: BinaryIO | None,
        size: int,
        progress: bool,
    ) -> None:
        """Score the rest of `source` a window at a time, checkpointing after each."""
        from tqdm.auto import tqdm

        state, summary = self.state, self.summary
        bar = tqdm(
            total=size,
            initial=state["bytes_read"],
            unit="B",
            unit_scale=True,
            desc="scoring",
            file=sys.stderr,
            disable=not progress,
            dynamic_ncols=True,
        )
        try:
            lines = _lines(source, state["lines_done"] + 1)
            while chunk := [
                parse_line(n, raw, json_lines=self.json_lines, text_field=self.text_field)
                for n, raw in _take(lines, self.window)
            ]:
                for line in chunk:
                    self.hasher.update(line.raw)
                docs = _score_window(
                    self.backend,
                    self.scorer,
                    chunk,
                    self.batch_tokens,
                    self.max_tokens,
                    summary,
                    self.report,
                )
                _write_docs(docs, profiles_out, filtered_out, self.keep_names, summary)
                summary.lines = chunk[-1].number
                read = sum(len(line.raw) for line in chunk)
                state["bytes_read"] += read
                bar.update(read)
                _flush(profiles_out, filtered_out)
                _save_checkpoint(
                    self.checkpoint,
                    self.fingerprint,
                    summary,
                    state,
                    self.hasher,
                    profiles_out,
                    filtered_out,
                )
        finally:
            bar.close()


def _check(
    corpus: Path, batch_tokens: int, window: int, max_tokens: int | None, rules: list[Rule]
) -> None:
    if not corpus.is_file():
        raise ValueError(f"Corpus {corpus} does not exist or is not a file.")
    if batch_tokens < 1 or window < 1 or (max_tokens is not None and max_tokens < 1):
        raise ValueError("batch_tokens, window and max_tokens must be positive.")
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ValueError("Rule names must be unique across --rules and --filter.")


def _resumed_summary(state: dict[str, Any], *, filtering: bool) -> ScoreSummary:
    """The running summary, from the checkpoint's counts (zeros on a fresh start)."""
    return ScoreSummary(
        documents=state["documents"],
        tokens=state["tokens"],
        lines=state["lines_done"],
        blank_lines=state["blank_lines"],
        bad_lines=[tuple(b) for b in state["bad_lines"]],  # type: ignore[misc]
        flagged=dict(state["flagged"]),
        kept=state["kept"] if filtering else None,
        resumed_from_line=state["lines_done"],
    )


def _write_docs(
    docs: list[tuple[Line, dict[str, Any]]],
    profiles_out: BinaryIO,
    filtered_out: BinaryIO | None,
    keep_names: set[str],
    summary: ScoreSummary,
) -> None:
    """Append one window's profiles (and kept original lines), counting flags as they go."""
    for line, doc in docs:
        record = {"line": line.number, "id": line.id, **doc}
        profiles_out.write(_jsonl(record))
        for name in doc["flags"]:
            summary.flagged[name] = summary.flagged.get(name, 0) + 1
        if filtered_out is not None and keep_names & set(doc["flags"]):
            filtered_out.write(line.raw if line.raw.endswith(b"\n") else line.raw + b"\n")
            summary.kept = (summary.kept or 0) + 1


def _finish(
    paths: dict[str, Path],
    partial: dict[str, Path],
    filtering: bool,
    summary: ScoreSummary,
    fingerprint: dict[str, Any],
    corpus: Path,
) -> None:
    """Move the finished outputs into place, write the summary, drop the checkpoint."""
    os.replace(partial["profiles"], paths["profiles"])
    outputs = {"profiles": str(paths["profiles"])}
    if filtering:
        os.replace(partial["filtered"], paths["filtered"])
        outputs["filtered"] = str(paths["filtered"])
    summary.outputs = outputs | {"summary": str(paths["summary"])}
    body = summary.to_dict() | {"settings": fingerprint, "corpus": str(corpus)}
    write_json(paths["summary"], body)
    paths["checkpoint"].unlink(missing_ok=True)


def _jsonl(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _score_window(
    backend: Any,
    scorer: DocumentScorer,
    chunk: list[Line],
    batch_tokens: int,
    max_tokens: int | None,
    summary: ScoreSummary,
    report: Callable[[str], None],
) -> list[tuple[Line, dict[str, Any]]]:
    good: list[Line] = []
    ids: list[list[int]] = []
    for line in chunk:
        if line.blank:
            summary.blank_lines += 1
            continue
        if line.error is None:
            row = backend.encode(line.text)
            if row:
                good.append(line)
                ids.append(row[:max_tokens] if max_tokens is not None else row)
                continue
            line = Line(line.number, line.raw, error="the text has no tokens")
        summary.bad_lines.append((line.number, line.error or ""))
        report(f"line {line.number}: {line.error}; skipped")
    results: dict[int, dict[str, Any]] = {}
    for group in bucket([len(r) for r in ids], batch_tokens):
        for i, doc in zip(group, scorer.score([ids[i] for i in group]), strict=True):
            doc["truncated"] = max_tokens is not None and len(ids[i]) == max_tokens
            results[i] = doc
            summary.documents += 1
            summary.tokens += doc["tokens"]
    return [(good[i], results[i]) for i in range(len(good))]


def _flush(*handles: BinaryIO | None) -> None:
    for h in handles:
        if h is not None:
            h.flush()
            os.fsync(h.fileno())

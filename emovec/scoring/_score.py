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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from emovec._batch import MeanFrom, TokenBatch
from emovec._site import Site
from emovec.extract import bucket
from emovec.monitor._calibration import Calibration, vectors_fingerprint
from emovec.monitor._monitor import Probes, default_site
from emovec.monitor._rules import Frame, Layout, Rule, RuleSet
from emovec.vectors import EmotionVectors, write_atomic

FORMAT = "emovec.score-checkpoint/1"
PROFILE_FORMAT = "emovec.scores/1"
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


@dataclass(frozen=True)
class Line:
    """One corpus line: its number (from 1), raw bytes, and the document or why it is bad."""

    number: int
    raw: bytes
    text: str | None = None
    id: Any = None
    error: str | None = None

    @property
    def blank(self) -> bool:
        return not self.raw.strip()


def parse_line(number: int, raw: bytes, *, json_lines: bool, text_field: str = "text") -> Line:
    """Read one line: a document, a blank line, or a bad line with the reason.

    Example:
        >>> parse_line(3, b'{"text": 5}\\n', json_lines=True).error
        "field 'text' is not a non-empty string"
    """
    if not raw.strip():
        return Line(number, raw)
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return Line(number, raw, error=f"not UTF-8 ({err.reason} at byte {err.start})")
    if not json_lines:
        return Line(number, raw, decoded.rstrip("\r\n"))
    try:
        rec = json.loads(decoded)
    except json.JSONDecodeError as err:
        return Line(number, raw, error=f"not valid JSON ({err.msg} at column {err.colno})")
    if not isinstance(rec, dict):
        return Line(number, raw, error=f"a JSON {type(rec).__name__}, not an object")
    text = rec.get(text_field)
    if not isinstance(text, str) or not text.strip():
        if text_field not in rec:
            return Line(number, raw, error=f"no field {text_field!r} (has {sorted(rec)[:5]})")
        return Line(number, raw, error=f"field {text_field!r} is not a non-empty string")
    return Line(number, raw, text, rec.get("id"))


def _lines(handle: BinaryIO, first: int) -> Iterator[tuple[int, bytes]]:
    yield from enumerate(handle, start=first)


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


class DocumentScorer:
    """Scores batches of documents: profiles per site and emotion, and rule flags.

    Args:
        backend: An emovec backend.
        vectors: The bundle.
        emotions: Emotions to score (default: all).
        sites: Sites (default: `default_site(vectors)`).
        start: First token of each document included in the profile (documents shorter than
            `start + 8` start later than token 1 but keep their last 8 tokens; never token 0,
            an attention sink, unless the document has one token).
        percentiles: Percentile levels (0-100) reported besides mean and max.
        rules: Rules whose firing flags a document (their actions are ignored here).
        calibration: Needed by rules on z-scores, and for `scale="z"`.
        scale: Profiles of "raw" readings or of "z"-scores.
    """

    def __init__(
        self,
        backend: Any,
        vectors: EmotionVectors,
        *,
        emotions: Sequence[str] | None = None,
        sites: "Sequence[Site | str | int] | None" = None,
        start: int = 1,
        percentiles: Sequence[float] = (90.0,),
        rules: Sequence[Rule] = (),
        calibration: Calibration | None = None,
        scale: str = "raw",
    ):
        self.backend = backend
        self.emotions = tuple(vectors.emotions if emotions is None else emotions)
        self.sites = [default_site(vectors)] if sites is None else [Site.parse(s) for s in sites]
        backend.check_sites(self.sites)
        vectors.check(backend, allow_mismatch=True)
        self.probes = Probes(vectors, self.emotions, self.sites)
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}.")
        self.start = start
        self.levels = tuple(float(q) for q in percentiles)
        if any(not 0 <= q <= 100 for q in self.levels):
            raise ValueError(f"Percentiles must lie in [0, 100], got {self.levels}.")
        if scale not in ("raw", "z"):
            raise ValueError(f"scale must be 'raw' or 'z', got {scale!r}.")
        self.calibration = None
        if calibration is not None:
            self.calibration = calibration.check(vectors).select(self.emotions, self.sites)
        if scale == "z" and self.calibration is None:
            raise ValueError("Profiles in z-scores need a calibration (--calibration FILE).")
        self.scale = scale
        self.rules = list(rules)
        layout = Layout(self.emotions, tuple(self.sites), self.calibration is not None)
        self.ruleset = RuleSet(self.rules, layout)
        self.fingerprint = {
            "model_id": backend.model_id,
            "weights_sha256": (getattr(backend, "source", None) or {}).get("weights_sha256"),
            "vectors_sha256": vectors_fingerprint(vectors, self.emotions, self.sites),
            "calibration": None
            if self.calibration is None
            else _digest(self.calibration.to_dict()),
            "start": start,
            "percentiles": list(self.levels),
            "rules": [r.to_dict() for r in self.rules],
            "scale": scale,
        }

    def score(self, token_ids: list[list[int]]) -> list[dict[str, Any]]:
        """Profiles and flags of one batch of tokenised documents (right-padded, one forward)."""
        batch = TokenBatch.from_ids(token_ids, pad_id=self.backend.pad_token_id)
        captured = self.backend.capture(batch, self.sites, self.probes.reducer())
        raw = self.probes.readings_from(captured).cpu().float()  # [batch, pos, site, emotion]
        z = None if self.calibration is None else self.calibration.z(raw.double()).float()
        values = z if z is not None and self.scale == "z" else raw
        lengths = batch.lengths
        first = MeanFrom(self.start).first(lengths)
        pos = torch.arange(raw.shape[1])
        use = batch.mask & (pos[None, :] >= first[:, None])
        w = use.to(values.dtype)[:, :, None, None]
        stats: dict[str, Any] = {
            "mean": (values * w).sum(1) / w.sum(1).clamp(min=1),
            "max": values.masked_fill(~use[:, :, None, None], -torch.inf).amax(1),
        }
        if self.levels:
            holed = values.masked_fill(~use[:, :, None, None], torch.nan)
            q = torch.tensor([v / 100 for v in self.levels], dtype=values.dtype)
            per_site = [torch.nanquantile(holed[:, :, s], q, dim=1) for s in range(len(self.sites))]
            quant = torch.stack(per_site, dim=2)  # [level, batch, site, emotion]
            for i, level in enumerate(self.levels):
                stats[f"p{level:g}"] = quant[i]
        flags = self._flags(raw.numpy(), None if z is None else z.numpy(), use.numpy())
        names = [str(s) for s in self.sites]
        docs = []
        for b in range(len(token_ids)):
            profiles = {
                name: {
                    key: dict(zip(self.emotions, _rounded(t[b, s]), strict=True))
                    for key, t in stats.items()
                }
                for s, name in enumerate(names)
            }
            docs.append(
                {
                    "tokens": int(lengths[b]),
                    "scored_from": int(first[b]),
                    "profiles": profiles,
                    "flags": sorted(flags[b]),
                    "flag_positions": flags[b],
                }
            )
        return docs

    def _flags(self, raw: np.ndarray, z: np.ndarray | None, use: np.ndarray) -> list[dict]:
        rows = raw.shape[0]
        out: list[dict[str, int]] = [{} for _ in range(rows)]
        if not self.rules:
            return out
        self.ruleset.reset(rows)
        for j in range(raw.shape[1]):
            if not use[:, j].any():
                continue
            frame = Frame(raw[:, j], None if z is None else z[:, j], use[:, j])
            for rule, fired in zip(self.rules, self.ruleset.step(frame), strict=True):
                for r in np.flatnonzero(fired):
                    out[r].setdefault(rule.name, j)
        return out


def _rounded(t: torch.Tensor) -> list[float]:
    return [round(v, 6) for v in t.double().tolist()]


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


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
    if not corpus.is_file():
        raise ValueError(f"Corpus {corpus} does not exist or is not a file.")
    if batch_tokens < 1 or window < 1 or (max_tokens is not None and max_tokens < 1):
        raise ValueError("batch_tokens, window and max_tokens must be positive.")
    names = [r.name for r in [*rules, *filter_rules]]
    if len(set(names)) != len(names):
        raise ValueError("Rule names must be unique across --rules and --filter.")
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
    fingerprint = {
        **scorer.fingerprint,
        "filter": sorted(keep_names),
        "text_field": text_field,
        "batch_tokens": batch_tokens,
        "window": window,
        "max_tokens": max_tokens,
    }
    paths = {
        "profiles": out / "profiles.jsonl",
        "filtered": out / "filtered.jsonl",
        "summary": out / "summary.json",
        "checkpoint": out / "checkpoint.json",
    }
    partial = {k: paths[k].with_name(paths[k].name + ".partial") for k in ("profiles", "filtered")}
    out.mkdir(parents=True, exist_ok=True)
    state = _start_state(paths, partial, fingerprint, resume=resume, overwrite=overwrite)
    summary = ScoreSummary(
        documents=state["documents"],
        tokens=state["tokens"],
        lines=state["lines_done"],
        blank_lines=state["blank_lines"],
        bad_lines=[tuple(b) for b in state["bad_lines"]],  # type: ignore[misc]
        flagged=dict(state["flagged"]),
        kept=state["kept"] if filter_rules else None,
        resumed_from_line=state["lines_done"],
    )
    started = time.perf_counter()
    json_lines = corpus.suffix.lower() in JSON_SUFFIXES
    hasher = hashlib.sha256()
    from tqdm.auto import tqdm

    with open(corpus, "rb") as source:
        _skip_prefix(source, state, hasher, corpus)
        bar = tqdm(
            total=corpus.stat().st_size,
            initial=state["bytes_read"],
            unit="B",
            unit_scale=True,
            desc="scoring",
            file=sys.stderr,
            disable=not progress,
            dynamic_ncols=True,
        )
        profiles_out = open(partial["profiles"], "ab")  # noqa: SIM115
        filtered_out = open(partial["filtered"], "ab") if filter_rules else None  # noqa: SIM115
        try:
            lines = _lines(source, state["lines_done"] + 1)
            while True:
                chunk = [
                    parse_line(n, raw, json_lines=json_lines, text_field=text_field)
                    for n, raw in _take(lines, window)
                ]
                if not chunk:
                    break
                for line in chunk:
                    hasher.update(line.raw)
                docs = _score_window(
                    backend, scorer, chunk, batch_tokens, max_tokens, summary, report
                )
                for line, doc in docs:
                    record = {"line": line.number, "id": line.id, **doc}
                    profiles_out.write(_jsonl(record))
                    for name in doc["flags"]:
                        summary.flagged[name] = summary.flagged.get(name, 0) + 1
                    if filtered_out is not None and keep_names & set(doc["flags"]):
                        filtered_out.write(
                            line.raw if line.raw.endswith(b"\n") else line.raw + b"\n"
                        )
                        summary.kept = (summary.kept or 0) + 1
                summary.lines = chunk[-1].number
                size = sum(len(line.raw) for line in chunk)
                state["bytes_read"] += size
                bar.update(size)
                _flush(profiles_out, filtered_out)
                _save_checkpoint(
                    paths["checkpoint"],
                    fingerprint,
                    summary,
                    state,
                    hasher,
                    profiles_out,
                    filtered_out,
                )
        finally:
            profiles_out.close()
            if filtered_out is not None:
                filtered_out.close()
            bar.close()
    os.replace(partial["profiles"], paths["profiles"])
    outputs = {"profiles": str(paths["profiles"])}
    if filter_rules:
        os.replace(partial["filtered"], paths["filtered"])
        outputs["filtered"] = str(paths["filtered"])
    summary.seconds = round(time.perf_counter() - started, 3)
    summary.outputs = outputs | {"summary": str(paths["summary"])}
    body = summary.to_dict() | {"settings": fingerprint, "corpus": str(corpus)}
    write_atomic(paths["summary"], (json.dumps(body, indent=2) + "\n").encode())
    paths["checkpoint"].unlink(missing_ok=True)
    return summary


def _take(lines: Iterator[tuple[int, bytes]], n: int) -> list[tuple[int, bytes]]:
    out = []
    for item in lines:
        out.append(item)
        if len(out) == n:
            break
    return out


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
    write_atomic(path, (json.dumps(body) + "\n").encode())


def score_texts(
    backend: Any,
    vectors: EmotionVectors,
    texts: Sequence[str],
    *,
    batch_tokens: int = 4096,
    max_tokens: int | None = 1024,
    **scorer: Any,
) -> list[dict[str, Any]]:
    """Profiles of a few in-memory texts (same numbers as `score_corpus`, in input order).

    Keyword arguments go to `DocumentScorer` (emotions, sites, start, percentiles, rules, ...).
    """
    doc_scorer = DocumentScorer(backend, vectors, **scorer)
    ids = []
    for i, text in enumerate(texts):
        row = backend.encode(text)
        if not row:
            raise ValueError(f"Text {i} has no tokens: drop it.")
        ids.append(row[:max_tokens] if max_tokens is not None else row)
    results: dict[int, dict[str, Any]] = {}
    for group in bucket([len(r) for r in ids], batch_tokens):
        for i, doc in zip(group, doc_scorer.score([ids[i] for i in group]), strict=True):
            results[i] = doc
    return [results[i] for i in range(len(ids))]

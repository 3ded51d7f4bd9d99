"""Remote capture of a whole corpus: few requests, retried, resumable, with progress.

Texts are tokenised in windows, bucketed by length into forwards of at most `batch_tokens`
padded tokens (`emovec.extract.bucket`), and consecutive forwards are packed into one request
(an nnsight session) until it holds `texts_per_request` texts: about
`n_texts / texts_per_request` requests in all. Each finished request is written to the output
folder at once (safetensors, atomically) and its id (a hash of its texts' ids) recorded in
`manifest.json`, so an interrupted run resumes where it stopped and redoes nothing.
Transient failures are retried by the backend's `RetryPolicy`. `vectors_from_capture` folds
captures of the story and neutral corpora into emotion vectors by the local recipe.
"""

import hashlib
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor
from tqdm.auto import tqdm

from emovec._batch import TokenBatch
from emovec._site import Site
from emovec.extract import (
    Item,
    NeutralStatistics,
    Recipe,
    RowMoments,
    StoryStatistics,
    TokenMoments,
    Truncation,
    bucket,
    build_vectors,
    corpus_summary,
    neutral_items,
    story_items,
    token_limit,
)
from emovec.vectors import EmotionVectors, write_atomic

FORMAT = "emovec.remote-capture/1"


@dataclass(frozen=True)
class CorpusCapture:
    """A folder of remotely captured reductions: `manifest.json` plus one file per request."""

    folder: Path

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.folder / "manifest.json").read_text())

    def __iter__(self) -> Iterator[tuple[list[str], dict[Site, Tensor]]]:
        """`(item ids, {site: reduction})` per forward, in corpus order."""
        manifest = self.manifest()
        for request_id in manifest["order"]:
            entry = manifest["requests"][request_id]
            tensors = st_load((self.folder / entry["file"]).read_bytes())
            for i, ids in enumerate(entry["batches"]):
                yield ids, {Site.parse(s): tensors[f"{i}/{s}"] for s in manifest["sites"]}


def _items(records: Iterable["Item | str"]) -> Iterator[Item]:
    for i, record in enumerate(records):
        yield record if isinstance(record, Item) else Item(str(i), str(record))


def _plan(
    backend: Any,
    items: Iterable[Item],
    *,
    texts_per_request: int,
    batch_tokens: int,
    window: int,
    max_tokens: int | None,
) -> Iterator[list[tuple[list[Item], list[list[int]]]]]:
    """Requests as lists of length-bucketed forwards: a function of the item stream alone."""
    pending: list[tuple[list[Item], list[list[int]]]] = []
    count = 0
    chunk: list[Item] = []

    def flush_chunk() -> Iterator[list[tuple[list[Item], list[list[int]]]]]:
        nonlocal pending, count
        # the same token limit as local extraction (bounded memory, equal results)
        ids = [backend.encode(item.text)[: token_limit(backend, max_tokens)] for item in chunk]
        for item, row in zip(chunk, ids, strict=True):
            if not row:
                raise ValueError(f"Record {item.id!r} has an empty text (no tokens): drop it.")
        for whole in bucket([len(r) for r in ids], batch_tokens):
            for start in range(0, len(whole), texts_per_request):
                group = whole[start : start + texts_per_request]
                if pending and count + len(group) > texts_per_request:
                    yield pending
                    pending, count = [], 0
                pending.append(([chunk[i] for i in group], [ids[i] for i in group]))
                count += len(group)

    for item in items:
        chunk.append(item)
        if len(chunk) == window:
            yield from flush_chunk()
            chunk = []
    if chunk:
        yield from flush_chunk()
    if pending:
        yield pending


def _manifest(path: Path, header: dict[str, Any]) -> dict[str, Any]:
    """The manifest to resume from (checked against `header`), or a fresh one."""
    if not path.exists():
        return {**header, "requests": {}, "order": []}
    manifest = json.loads(path.read_text())
    old = {k: manifest.get(k) for k in header}
    if old != header:
        raise ValueError(
            f"{path.parent} holds a capture with other settings ({old}); use another folder to"
            f" capture {header}."
        )
    return manifest


def capture_corpus(
    backend: Any,
    records: Iterable["Item | str"],
    sites: Sequence["Site | str | int"],
    reducer: Any,
    *,
    out: "str | Path",
    texts_per_request: int = 64,
    batch_tokens: int = 4096,
    window: int = 2048,
    max_tokens: int | None = None,
    progress: bool = True,
    total: int | None = None,
) -> CorpusCapture:
    """Capture reductions of a corpus on a remote backend, resumably.

    Args:
        backend: A `RemoteNNsightBackend` (any backend with `capture_many` works).
        records: `emovec.extract.Item`s (their ids key the resume) or plain strings.
        sites: Sites captured in every forward.
        reducer: `MeanFrom`, `RowMoments`, `TokenMoments`, `last_token` or `keep`.
        out: Output folder; reusing it resumes (it must hold the same model, sites, reducer).
        texts_per_request: Texts packed into one request (a session of forwards).
        batch_tokens: Padded tokens per forward.
        window: Records tokenised and bucketed together.
        max_tokens: Truncate longer texts.
        progress: Show a progress bar on stderr (texts, requests, retries).
        total: Number of records, for the progress bar.

    Returns:
        The `CorpusCapture` over `out`.

    Example:
        >>> capture = capture_corpus(backend, texts, [Site(32)], MeanFrom(50), out="cap/")  # doctest: +SKIP
        >>> for ids, captured in capture:  # doctest: +SKIP
        ...     means = captured[Site(32)]  # [len(ids), d_model]
    """
    if texts_per_request < 1:
        raise ValueError(f"texts_per_request must be positive, got {texts_per_request}.")
    folder = Path(out)
    site_list = backend.check_sites([Site.parse(s) for s in sites])
    header = {
        "format": FORMAT,
        "model_id": backend.model_id,
        "sites": [str(s) for s in site_list],
        "reducer": repr(reducer),
        "batch_tokens": batch_tokens,
        "max_tokens": max_tokens,
    }
    manifest_path = folder / "manifest.json"
    manifest = _manifest(manifest_path, header)
    order: list[str] = []
    bar = tqdm(
        total=total, desc="remote capture", unit="text", file=sys.stderr, disable=not progress
    )
    try:
        for request in _plan(
            backend,
            _items(records),
            texts_per_request=texts_per_request,
            batch_tokens=batch_tokens,
            window=window,
            max_tokens=max_tokens,
        ):
            ids = [[item.id for item in items] for items, _ in request]
            request_id = hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:16]
            order.append(request_id)
            n_texts = sum(len(b) for b in ids)
            if request_id not in manifest["requests"]:
                batches = [
                    TokenBatch.from_ids(rows, pad_id=backend.pad_token_id) for _, rows in request
                ]
                captured = backend.capture_many(batches, site_list, reducer)
                tensors = {
                    f"{i}/{site}": result[site].contiguous()
                    for i, result in enumerate(captured)
                    for site in site_list
                }
                name = f"request-{request_id}.safetensors"
                write_atomic(folder / name, st_save(tensors))
                manifest["requests"][request_id] = {"file": name, "batches": ids}
                manifest["order"] = order + [r for r in manifest["order"] if r not in order]
                write_atomic(manifest_path, json.dumps(manifest, indent=1).encode())
            bar.update(n_texts)
            bar.set_postfix(
                requests=len(order), retries=getattr(backend, "retries", 0), refresh=False
            )
    finally:
        bar.close()
    manifest["order"] = order
    write_atomic(manifest_path, json.dumps(manifest, indent=1).encode())
    return CorpusCapture(folder)


def vectors_from_capture(
    backend: Any,
    stories: Sequence[Any],
    story_capture: "CorpusCapture | str | Path",
    neutral: Sequence[Any] | None = None,
    neutral_capture: "CorpusCapture | str | Path | None" = None,
    *,
    start: int = 50,
    neutral_variance: float = 0.5,
    emotions: Sequence[str] | None = None,
) -> EmotionVectors:
    """Emotion vectors from corpus captures, by `emovec.extract.extract_vectors`'s recipe.

    Capture the stories with `RowMoments(start)` and the neutral texts with `RowMoments(start)`
    (PCA over dialogue means) or `TokenMoments(start)` (over tokens), each through
    `capture_corpus` with the ids of `story_items`/`neutral_items`; this folds the folders into
    the same running statistics `extract_vectors` keeps and finishes the recipe: the result
    equals a local `extract_vectors(backend, stories, neutral, start=start, ...)`.

    Args:
        backend: The backend the captures came from (its model id is checked).
        stories: The story records that were captured (for their emotions and the corpus hash).
        story_capture: Their capture folder.
        neutral: The neutral texts that were captured, or None (no denoising).
        neutral_capture: Their capture folder (given exactly when `neutral` is).
        start: The reducers' `start`, checked against the folders.
        neutral_variance: Fraction of neutral variance projected out (0: none).
        emotions: Fix the emotion order (default: order of first appearance, as locally).

    Returns:
        An `EmotionVectors` bundle whose metadata records the recipe and the corpus.

    Raises:
        ValueError: A folder from another model, reducer or `start`, captures that miss
            records (an interrupted capture: rerun `capture_corpus` to finish it) or hold others.
    """
    if (neutral is None) != (neutral_capture is None):
        raise ValueError("Pass neutral texts and their capture folder together, or neither.")
    stories, story_cap = list(stories), _open(story_capture)
    header = story_cap.manifest()
    if header["model_id"] != backend.model_id:
        raise ValueError(
            f"{story_cap.folder} was captured from {header['model_id']}, not {backend.model_id}."
        )
    _expect_reducer(header, story_cap.folder, {repr(RowMoments(start)): "dialogue"})
    sites = [Site.parse(s) for s in header["sites"]]
    story_stats = StoryStatistics(sites, int(backend.d_model), emotions)
    labels = {}
    for item in story_items(stories):
        story_stats.register(item.label or "")  # emotions in order of appearance, as locally
        labels[item.id] = item.label or ""
    _fold(story_cap, set(labels), lambda ids, got: story_stats.add([labels[i] for i in ids], got))
    neutral_stats, pca_mode = None, "dialogue"
    if neutral is not None and neutral_capture is not None:
        neutral = list(neutral)
        neutral_cap = _open(neutral_capture)
        other = neutral_cap.manifest()
        if other["sites"] != header["sites"] or other["model_id"] != header["model_id"]:
            raise ValueError(f"{neutral_cap.folder} holds other sites or another model.")
        modes = {repr(RowMoments(start)): "dialogue", repr(TokenMoments(start)): "token"}
        pca_mode = _expect_reducer(other, neutral_cap.folder, modes)
        neutral_stats = NeutralStatistics(sites, int(backend.d_model), mode=pca_mode)
        wanted = {item.id for item in neutral_items(neutral)}
        _fold(neutral_cap, wanted, lambda ids, got: neutral_stats.add(got))
    recipe = Recipe(
        start,
        neutral_variance,
        pca_mode,
        batch_tokens=header["batch_tokens"],
        max_tokens=header["max_tokens"],
    )
    # What local extraction records: the corpus digest, and what the token limit cut.
    cuts = Truncation(token_limit(backend, header["max_tokens"]))
    for item in (*story_items(stories), *neutral_items(neutral or ())):
        cuts.cut(backend.encode(item.text))
    cuts.warn()
    summary = {**corpus_summary(stories, neutral), "truncation": cuts.summary()}
    return build_vectors(backend, story_stats, neutral_stats, recipe, summary)


def _open(capture: "CorpusCapture | str | Path") -> CorpusCapture:
    return capture if isinstance(capture, CorpusCapture) else CorpusCapture(Path(capture))


def _expect_reducer(manifest: dict[str, Any], folder: Path, allowed: dict[str, str]) -> str:
    found = manifest["reducer"]
    if found not in allowed:
        raise ValueError(
            f"{folder} was captured with {found}; the recipe needs {' or '.join(allowed)}."
        )
    return allowed[found]


def _fold(capture: CorpusCapture, wanted: set[str], add: Any) -> None:
    """`add(ids, captured)` per forward of `capture` (streamed), once the manifest shows that
    it holds exactly the records `wanted`."""
    manifest = capture.manifest()
    seen = {
        i
        for request in manifest["order"]
        for ids in manifest["requests"][request]["batches"]
        for i in ids
    }
    missing, extra = sorted(wanted - seen), sorted(seen - wanted)
    if missing or extra:
        which = (
            f"misses {len(missing)} records (e.g. {missing[0]!r}): an unfinished capture?"
            if missing
            else f"holds {len(extra)} records not given here (e.g. {extra[0]!r})."
        )
        raise ValueError(
            f"{capture.folder} {which} Rerun capture_corpus with the same records and folder."
        )
    for ids, captured in capture:
        add(ids, captured)

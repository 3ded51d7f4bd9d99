"""The generation driver: batched, seeded, sharded and resumable corpus generation.

Layout of a corpus folder while it is being made:

    OUT/run.json                         the plan and settings (a resumed run must match them)
    OUT/raw/shard-00000-of-00001.jsonl   every attempt of that shard, accepted or not

Each batch's records are appended in one write and fsynced, so a restart finds whole batches
(a torn last line is dropped). Batches are fixed slices of a deterministic job list and each is
sampled with a seed derived from its first job, so a resumed run reproduces an uninterrupted
one exactly: sampling with one generator for a whole batch is not reproducible row by row, which
is why the batch size is part of the recorded settings. `finalize` (also `emovec corpus
filter`) merges the shards into `stories.jsonl`, `neutral.jsonl` and `manifest.json`.
"""

import json
import re
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from emovec._batch import TokenBatch

from ._filters import FilterSettings, Screen, fingerprint, spellings
from ._plan import Job, Plan, Shard, batch_seed
from ._prompts import PROMPT_VERSION
from ._records import Record, append_jsonl, atomic_open, scan_jsonl, write_json

RUN_FILE = "run.json"
RAW_DIR = "raw"


@dataclass(frozen=True)
class GenerationSettings:
    """How each batch is sampled (recorded in run.json and the manifest).

    Attributes:
        max_new_tokens: Token budget of a story.
        answer_max_new_tokens: Token budget of each Assistant line of a neutral dialogue.
        temperature: Sampling temperature (0 = greedy).
        top_p: Nucleus sampling mass.
        batch_size: Rows per `generate` call (a dialogue takes one row per exchange).
        ban_emotion_word: Keep a story's emotion word (every spelling of every inflection) out
            of the sampled text at decoding time, so that fewer attempts are rejected for
            naming it (the leak filter still runs). Off by default: on the default model it
            did not make the stories easier to tell apart by emotion (see corpus-build/README.md).
    """

    max_new_tokens: int = 180
    answer_max_new_tokens: int = 80
    temperature: float = 0.8
    top_p: float = 0.95
    batch_size: int = 32
    ban_emotion_word: bool = False

    def __post_init__(self) -> None:
        if min(self.batch_size, self.max_new_tokens, self.answer_max_new_tokens) < 1:
            raise ValueError("batch_size and the max_new_tokens settings must be at least 1.")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1].")


@dataclass
class ShardReport:
    """What one call of `generate_corpus` did."""

    shard: Shard
    path: Path
    generated: int = 0
    skipped: int = 0
    accepted: dict[str, int] = field(default_factory=dict)


_TITLE = re.compile(r"^\s*(?:\*\*|#+\s*)?(?:title:)?[^\n.!?]{1,60}\**\s*\n\s*\n", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d)]?(?=\s|$)")


def tidy(text: str, stopped: str) -> str:
    """Strip a leading title line, and the unfinished sentence of a text cut by the token limit.

    Example:
        >>> tidy("**The Letter**\\n\\nShe read it twice. Then she", "max_new_tokens")
        'She read it twice.'
    """
    text = _TITLE.sub("", text.strip(), count=1).strip()
    if stopped == "max_new_tokens":
        ends = [m.end() for m in _SENTENCE_END.finditer(text)]
        if ends and ends[-1] >= len(text) // 2:
            text = text[: ends[-1]]
    return text.strip()


_OPENER = re.compile(
    r"^(?:(?:sure|certainly|of course|absolutely|great question|good question|happy to help)"
    r"[^.!?\n]*[.!?]\s*)+",
    re.IGNORECASE,
)


def tidy_answer(text: str, stopped: str) -> str:
    """`tidy` for one Assistant line: also drops pleasantry openers and joins it into one line.

    Example:
        >>> tidy_answer("Certainly! Water evaporates.\\nThen it rains. And", "max_new_tokens")
        'Water evaporates. Then it rains.'
    """
    text = _OPENER.sub("", tidy(text, stopped))
    return " ".join(text.split())


def _batches(jobs: Sequence[Job], size: int) -> list[list[Job]]:
    """Consecutive jobs of one kind, at most `size` rows each (a job is never split)."""
    batches: list[list[Job]] = []
    rows = 0
    for job in jobs:
        if not batches or batches[-1][0].kind != job.kind or rows + len(job.prompts) > size:
            batches.append([])
            rows = 0
        batches[-1].append(job)
        rows += len(job.prompts)
    return batches


def _run_config(
    backend: Any, plan: Plan, settings: GenerationSettings, filters: FilterSettings
) -> dict:
    return {
        "model_id": str(backend.model_id),
        "adapter": backend.name,
        "chat_template": bool(getattr(backend.tokenizer, "chat_template", None)),
        "prompt_version": PROMPT_VERSION,
        "plan": plan.as_dict(),
        "settings": _settings_dict(settings),
        "filters": filters.as_dict(),
    }


def _settings_dict(settings: GenerationSettings) -> dict[str, Any]:
    # Off, the ban leaves no trace, so runs started before it existed resume unchanged.
    data = asdict(settings)
    if not data["ban_emotion_word"]:
        del data["ban_emotion_word"]
    return data


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else key))
    return flat


def _check_run(out: Path, config: dict) -> None:
    """Write run.json on a fresh folder; refuse to resume a folder made with other settings."""
    path = out / RUN_FILE
    if not path.exists():
        write_json(path, config)
        return
    stored = _flatten(json.loads(path.read_text(encoding="utf-8")))
    fresh = _flatten(json.loads(json.dumps(config)))  # tuples become lists, as stored
    differ = sorted(k for k in set(stored) | set(fresh) if stored.get(k) != fresh.get(k))
    if differ:
        raise ValueError(
            f"{out} was started with other settings ({', '.join(differ)} differ): resume with the"
            " same options, or pass a new --out folder."
        )


def load_attempts(path: "str | PathLike[str]") -> list[Record]:
    """Records of a raw shard file; a torn last line (interrupted write) is cut off the file."""
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        with atomic_open(path) as handle:
            handle.write(text)
    good, bad = scan_jsonl(text, str(path))
    if bad:
        raise ValueError(f"{bad[0]}: the raw file is damaged; delete that line to resume.")
    return [r for _, r in good]


def _token_batch(backend: Any, prompts: Sequence[str]) -> TokenBatch:
    """Left-padded prompt ids, wrapped in the chat template when the tokenizer has one."""
    tok = backend.tokenizer
    rows = []
    for prompt in prompts:
        if getattr(tok, "chat_template", None):
            ids = tok.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True
            )
            ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        else:
            ids = tok(prompt + "\n\n", add_special_tokens=False)["input_ids"]
        rows.append(list(ids))
    pad = getattr(tok, "pad_token_id", None)
    pad = pad if pad is not None else (getattr(tok, "eos_token_id", None) or 0)
    return TokenBatch.from_ids(rows, pad_id=pad, side="left")


def generate_corpus(
    backend: Any,
    plan: Plan,
    out: "str | PathLike[str]",
    *,
    settings: GenerationSettings | None = None,
    filters: FilterSettings | None = None,
    shard: Shard | None = None,
    progress: bool = True,
) -> ShardReport:
    """Generate (or resume) one shard of a corpus into `out/raw/`.

    Args:
        backend: Any emovec backend (its `generate` must accept chat, temperature, top_p, seed).
        plan: What to generate (see `Plan`).
        out: The corpus folder; created if missing, resumed if it holds a run with the same
            plan and settings.
        settings: Sampling settings and batch size (default `GenerationSettings()`).
        filters: Filter thresholds applied to every text as it arrives (default
            `FilterSettings()`).
        shard: Which shard to run (`Shard(i, n)` keeps every n-th job; default all jobs).
        progress: Show a progress bar on stderr.

    Returns:
        A `ShardReport`; call `finalize(out)` once every shard is done.
    """
    from tqdm import tqdm

    settings = settings or GenerationSettings()
    filters = filters or FilterSettings()
    shard = shard or Shard()
    out = Path(out)
    (out / RAW_DIR).mkdir(parents=True, exist_ok=True)
    _check_run(out, _run_config(backend, plan, settings, filters))
    path = out / RAW_DIR / f"{shard.name}.jsonl"
    attempts = load_attempts(path)
    done = {r.id: r for r in attempts}
    screen = Screen(filters)
    for record in attempts:
        if record.accepted:
            screen.remember(record.text)
    report = ShardReport(shard, path)
    jobs = plan.base_jobs(shard)
    bar = tqdm(total=len(jobs), desc=f"corpus {shard.index}/{shard.count}", unit="text",
               file=sys.stderr, disable=not progress, dynamic_ncols=True)  # fmt: skip
    round_ = 0
    try:
        while jobs:
            for batch in _batches(jobs, settings.batch_size):
                present = [j.key for j in batch if j.key in done]
                if len(present) == len(batch):
                    report.skipped += len(batch)
                    bar.update(len(batch))
                    continue
                if present:  # a torn batch: drop its survivors, then redo it whole
                    _drop(path, set(present), done)
                    screen.seen = {fingerprint(r.text) for r in done.values() if r.accepted}
                records = _run_batch(backend, batch, plan, settings, screen, round_)
                append_jsonl(path, records)
                done.update((r.id, r) for r in records)
                report.generated += len(batch)
                bar.update(len(batch))
                accepted = sum(r.accepted for r in done.values())
                bar.set_postfix(accepted=accepted, rate=f"{accepted / max(len(done), 1):.0%}")
            round_ += 1
            jobs = _top_up_jobs(plan, shard, done.values(), round_)
            bar.total += len(jobs)
            bar.refresh()
    finally:
        bar.close()
    counts: dict[str, int] = defaultdict(int)
    for record in done.values():
        if record.accepted:
            counts[record.emotion or "(neutral)"] += 1
    report.accepted = dict(counts)
    return report


def _drop(path: Path, keys: set[str], done: dict[str, Record]) -> None:
    for key in keys:
        del done[key]
    kept = [r for r in load_attempts(path) if r.id not in keys]
    with atomic_open(path) as handle:
        handle.writelines(r.to_json() + "\n" for r in kept)


def _banned(tokenizer: Any, emotion: str | None) -> list[list[int]]:
    """Token sequences of every spelling of `emotion` (see `spellings`), without duplicates."""
    if emotion is None:
        return []
    seqs = {tuple(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in spellings(emotion)}
    return [list(q) for q in sorted(seqs) if q]


def _run_batch(
    backend: Any,
    batch: list[Job],
    plan: Plan,
    settings: GenerationSettings,
    screen: Screen,
    round_: int,
) -> list[Record]:
    seed = batch_seed(plan.base_seed, (j.key for j in batch))
    story = batch[0].kind == "story"
    gen = backend.generate(
        _token_batch(backend, [p for job in batch for p in job.prompts]),
        max_new_tokens=settings.max_new_tokens if story else settings.answer_max_new_tokens,
        temperature=settings.temperature,
        top_p=settings.top_p,
        seed=seed,
        **(
            {"ban": [_banned(backend.tokenizer, j.emotion) for j in batch for _ in j.prompts]}
            if story and settings.ban_emotion_word
            else {}
        ),
    )
    rows = iter(zip(gen.texts, gen.token_ids, gen.stopped, strict=True))
    records = []
    for job in batch:
        outputs = [next(rows) for _ in job.prompts]
        if story:
            raw, ids, stopped = outputs[0]
            text = tidy(raw, stopped)
        else:
            answers = [tidy_answer(raw, stopped) for raw, _, stopped in outputs]
            pairs = zip(job.questions, answers, strict=True)
            text = "\n".join(f"Human: {q}\nAssistant: {a}" for q, a in pairs)
            stopped = ",".join(o[2] for o in outputs)
        reason = screen(text, kind=job.kind, emotion=job.emotion) if text.strip() else "empty"
        meta = {**dict(job.meta), "attempt": job.attempt, "round": round_, "stopped": stopped,
                "new_tokens": sum(len(o[1]) for o in outputs)}  # fmt: skip
        records.append(
            Record(
                job.key,
                job.kind,
                job.emotion,
                job.topic,
                text or "(empty)",
                str(backend.model_id),
                seed,
                reason,
                meta,
            )  # fmt: skip
        )
    return records


def _top_up_jobs(plan: Plan, shard: Shard, done: Any, round_: int) -> list[Job]:
    """Jobs of top-up round `round_`, decided from the records of earlier rounds only."""
    accepted: dict[int, int] = defaultdict(int)
    tried: dict[int, list[int]] = defaultdict(list)
    group_of = {name: g for g, name in enumerate(plan.emotions)}
    for record in done:
        if (record.meta or {}).get("round", 0) >= round_:
            continue
        g = (
            group_of.get(record.emotion, len(plan.emotions))
            if record.kind == "story"
            else len(plan.emotions)
        )
        tried[g].append(int((record.meta or {}).get("attempt", 0)))
        accepted[g] += record.accepted
    jobs: list[Job] = []
    for g in range(len(plan.groups)):
        if plan.target(g):
            jobs.extend(plan.top_up(g, shard, accepted=accepted[g], tried=tried[g]))
    return jobs

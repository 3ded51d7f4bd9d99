"""Assemble the hand-written stories and dialogues into the shipped default corpus.

Usage (from the repository root, with the project's virtual environment):
    .venv/bin/python corpus-build/hand/build.py [--out emovec/data/corpus/default]

Reads `stories/*.md` and `neutral/h*.md` (format in BRIEF.md), runs every text through the
library's own filters (`emovec.corpus.Screen`, as `emovec corpus filter` does) and the brief's
checks (check.py), and refuses to write anything if one fails. Writes `stories.jsonl`,
`neutral.jsonl` and `manifest.json` atomically; the manifest records the authorship
(hand-written), the design, the counts, the filter results and the content hash.
"""

import argparse
import csv
import subprocess
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import check  # noqa: E402  (the brief's checker: parsers and rules)

from emovec.corpus import FilterSettings, Record, Screen  # noqa: E402
from emovec.corpus._records import build_manifest, write_json, write_jsonl  # noqa: E402

AUTHORSHIP = "hand-written"
GENERATOR = "hand-written"  # the records' `generator` field
FILTERS = FilterSettings(min_words=40)
PROMPT_VERSION = "hand-written-v1 (corpus-build/hand/BRIEF.md)"


def topic_ids() -> dict[str, int]:
    """Each catalogue topic's line number in emovec/data/topics.txt (the ids say which topic)."""
    lines = (ROOT / "emovec/data/topics.txt").read_text(encoding="utf-8").splitlines()
    return {t.strip(): i for i, t in enumerate(lines) if t.strip()}


def stories() -> list[Record]:
    emotions, plan, _ = check.load_assignments()
    ids = topic_ids()
    out = []
    for emotion in emotions:
        parsed, problems = check.parse_stories(HERE / "stories" / f"{check.slug(emotion)}.md")
        if problems:
            raise SystemExit(f"{emotion}: {problems}")
        for no, (topic, person) in sorted(plan[emotion].items()):
            written_person, text = parsed[no]
            if written_person != person:
                raise SystemExit(f"{emotion} topic {no}: written {written_person}, planned {person}")
            out.append(
                Record(
                    f"story/{emotion}/t{ids[topic]:03d}/s0", "story", emotion, topic, text,
                    GENERATOR, 0, None, {"person": person, "topic_no": no},
                )
            )  # fmt: skip
    return out


def dialogues() -> list[Record]:
    out = []
    for path in sorted((HERE / "neutral").glob("h*.md")):
        parsed, problems = check.parse_dialogues(path)
        if problems:
            raise SystemExit(f"{path.name}: {problems}")
        for k, (topic, text) in enumerate(parsed):
            turns = sum(line.startswith(("Human: ", "Assistant: ")) for line in text.split("\n"))
            out.append(
                Record(
                    f"neutral/{path.stem}/d{k:03d}", "neutral", None, topic, text,
                    GENERATOR, 0, None, {"turns": turns},
                )
            )  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "emovec/data/corpus/default")
    args = ap.parse_args()
    checked = subprocess.run(
        [sys.executable, str(HERE / "check.py"), "--strict", "--quiet"],
        capture_output=True, text=True,
    )  # fmt: skip
    if checked.returncode != 0:
        print(checked.stdout[-3000:], file=sys.stderr)
        raise SystemExit("check.py --strict failed: fix the errors above first.")
    summary_line = checked.stdout.strip().splitlines()[-1]
    story_records, neutral_records = stories(), dialogues()
    screen = Screen(FILTERS)
    judged = [r.with_reason(screen(r.text, kind=r.kind, emotion=r.emotion)) for r in story_records]
    judged += [r.with_reason(screen(r.text, kind=r.kind, emotion=None)) for r in neutral_records]
    rejected = [r for r in judged if r.reason]
    if rejected:
        for r in rejected[:20]:
            print(f"{r.id}: {r.reason}", file=sys.stderr)
        raise SystemExit(f"{len(rejected)} texts fail the library's filters; fix them first.")
    emotions, plan, _ = check.load_assignments()
    topics = [t for _, (t, _) in sorted(plan[emotions[0]].items())]
    persons = Counter((r.emotion, (r.meta or {})["person"]) for r in story_records)
    words = [len(check.F.words(r.text)) for r in story_records]
    generation = {
        "authorship": AUTHORSHIP,
        "model_id": None,
        "adapter": None,
        "written_by": "the emovec authors, 8 writers working from one brief",
        "brief": "corpus-build/hand/BRIEF.md",
        "why": "the default model (SmolLM2-135M-Instruct) cannot write stories that carry"
        " their emotion: words alone named its own stories' emotions at 1.2x chance",
        "design": {
            "emotions": len(emotions),
            "topics": topics,
            "stories_per_emotion_and_topic": 1,
            "person": "first and third person, 6 each per emotion (assignments.tsv)",
            "story_words": {"min": min(words), "max": max(words), "mean": round(sum(words) / len(words), 1)},
        },
        "licence": "Apache-2.0, as the project",
    }
    manifest = build_manifest(
        judged,
        generation=generation,
        filters={**FILTERS.as_dict(), "brief_checks": summary_line},
        prompt_version=PROMPT_VERSION,
        files={"stories": "stories.jsonl", "neutral": "neutral.jsonl"},
    )
    manifest["counts"]["per_emotion"] = {e: manifest["counts"]["per_emotion"].get(e, 0) for e in emotions}
    manifest["counts"]["person"] = {
        "first": sum(v for (e, p), v in persons.items() if p == "first"),
        "third": sum(v for (e, p), v in persons.items() if p == "third"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out / "stories.jsonl", story_records)
    write_jsonl(args.out / "neutral.jsonl", neutral_records)
    write_json(args.out / "manifest.json", manifest)
    print(
        f"{len(story_records)} stories ({len(emotions)} emotions x {len(topics)} topics),"
        f" {len(neutral_records)} dialogues -> {args.out}; content hash {manifest['content_hash']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The corpus: emotion stories and neutral dialogues written by a model, filtered, as JSONL.

`generate_corpus` runs a `Plan` through any backend (batched, seeded, sharded, resumable),
judging each text with the filters (`Screen`) as it arrives; `finalize` merges the shards into
`stories.jsonl`, `neutral.jsonl` and a `manifest.json` with counts, rejection rates, the
settings and a content hash; `load_corpus` reads a corpus back (the shipped default if no path).
"""

from ._dialogues import DIALOGUE_KINDS as DIALOGUE_KINDS
from ._dialogues import load_dialogues as load_dialogues
from ._filters import REASONS as REASONS
from ._filters import FilterSettings as FilterSettings
from ._filters import Screen as Screen
from ._filters import degenerate as degenerate
from ._filters import fingerprint as fingerprint
from ._filters import leak_forms as leak_forms
from ._filters import leaked as leaked
from ._filters import not_dialogue as not_dialogue
from ._filters import not_english as not_english
from ._filters import too_short as too_short
from ._finalize import finalize as finalize
from ._generate import GenerationSettings as GenerationSettings
from ._generate import ShardReport as ShardReport
from ._generate import generate_corpus as generate_corpus
from ._generate import tidy as tidy
from ._load import Corpus as Corpus
from ._load import load_corpus as load_corpus
from ._plan import Job as Job
from ._plan import Plan as Plan
from ._plan import Shard as Shard
from ._prompts import PROMPT_VERSION as PROMPT_VERSION
from ._prompts import answer_prompt as answer_prompt
from ._prompts import neutral_questions as neutral_questions
from ._prompts import story_prompt as story_prompt
from ._records import Record as Record
from ._records import RecordError as RecordError
from ._records import atomic_open as atomic_open
from ._records import content_hash as content_hash
from ._records import read_jsonl as read_jsonl

__all__ = [
    "PROMPT_VERSION",
    "REASONS",
    "Corpus",
    "DIALOGUE_KINDS",
    "FilterSettings",
    "GenerationSettings",
    "Job",
    "Plan",
    "Record",
    "RecordError",
    "Screen",
    "Shard",
    "ShardReport",
    "answer_prompt",
    "atomic_open",
    "content_hash",
    "degenerate",
    "finalize",
    "fingerprint",
    "generate_corpus",
    "leak_forms",
    "leaked",
    "load_dialogues",
    "load_corpus",
    "neutral_questions",
    "not_dialogue",
    "not_english",
    "read_jsonl",
    "story_prompt",
    "tidy",
    "too_short",
]

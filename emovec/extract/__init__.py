"""Extraction: the paper's recipe for emotion vectors, streamed, batched and resumable.

`extract_vectors(backend, stories, neutral)` returns an `emovec.vectors.EmotionVectors`;
`template_vectors` runs the same code on sentences that only name each emotion (the control).
The pieces are public for other workflows: `capture_stream` (length-bucketed, right-padded,
many sites per forward), the reducers `RowMoments`/`TokenMoments`, the running statistics, and
the recipe's pure maths (`emotion_directions`, `neutral_components`, `finish_vectors`).
"""

from ._capture import Item as Item
from ._capture import NeutralStatistics as NeutralStatistics
from ._capture import RowMoments as RowMoments
from ._capture import StoryStatistics as StoryStatistics
from ._capture import TokenMoments as TokenMoments
from ._capture import bucket as bucket
from ._capture import capture_stream as capture_stream
from ._checkpoint import Checkpoint as Checkpoint
from ._checkpoint import CheckpointMismatchError as CheckpointMismatchError
from ._checkpoint import run_fingerprint as run_fingerprint
from ._control import TEMPLATES as TEMPLATES
from ._control import template_records as template_records
from ._control import template_vectors as template_vectors
from ._dialogue import RoleMeans as RoleMeans
from ._dialogue import RoleMoments as RoleMoments
from ._dialogue import capture_role_means as capture_role_means
from ._dialogue import role_tokens as role_tokens
from ._dialogue import turn_spans as turn_spans
from ._items import check_corpus as check_corpus
from ._items import corpus_summary as corpus_summary
from ._items import field_of as field_of
from ._items import neutral_items as neutral_items
from ._items import story_items as story_items
from ._recipe import Recipe as Recipe
from ._recipe import build_vectors as build_vectors
from ._recipe import collect_statistics as collect_statistics
from ._recipe import emotion_directions as emotion_directions
from ._recipe import extract_vectors as extract_vectors
from ._recipe import finish_vectors as finish_vectors
from ._recipe import neutral_components as neutral_components
from ._speaker import DeflectionVectors as DeflectionVectors
from ._speaker import SpeakerVectors as SpeakerVectors
from ._speaker import deflection_vectors as deflection_vectors
from ._speaker import speaker_vectors as speaker_vectors
from ._speaker import story_subspace as story_subspace
from ._truncation import DEFAULT_MAX_TOKENS as DEFAULT_MAX_TOKENS
from ._truncation import Truncation as Truncation
from ._truncation import TruncationWarning as TruncationWarning
from ._truncation import token_limit as token_limit

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "TEMPLATES",
    "Truncation",
    "TruncationWarning",
    "check_corpus",
    "run_fingerprint",
    "token_limit",
    "Checkpoint",
    "DeflectionVectors",
    "RoleMeans",
    "RoleMoments",
    "SpeakerVectors",
    "CheckpointMismatchError",
    "Item",
    "NeutralStatistics",
    "Recipe",
    "RowMoments",
    "StoryStatistics",
    "TokenMoments",
    "bucket",
    "build_vectors",
    "capture_role_means",
    "capture_stream",
    "deflection_vectors",
    "collect_statistics",
    "corpus_summary",
    "emotion_directions",
    "extract_vectors",
    "field_of",
    "finish_vectors",
    "neutral_components",
    "neutral_items",
    "role_tokens",
    "speaker_vectors",
    "story_subspace",
    "story_items",
    "template_records",
    "template_vectors",
    "turn_spans",
]

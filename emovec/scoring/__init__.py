"""Corpus scoring (`emovec score`): per-document emotion profiles, rule flags, rule-based
filtering, for data selection at the source. Streams a corpus of any size with bounded memory,
resumes after an interruption with identical output, and reports bad lines by number.
"""

from ._corpus import Line as Line
from ._corpus import parse_line as parse_line
from ._score import score_corpus as score_corpus
from ._scorer import DocumentScorer as DocumentScorer
from ._scorer import score_texts as score_texts
from ._summary import ScoreSummary as ScoreSummary

__all__ = [
    "DocumentScorer",
    "Line",
    "ScoreSummary",
    "parse_line",
    "score_corpus",
    "score_texts",
]

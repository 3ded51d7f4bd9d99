"""Texts longer than extraction's token limit are cut, with a warning, and counted.

Without a limit one 100k-character story (23k tokens) made a forward whose attention alone
needed tens of gigabytes. With it, a batch holds at most `max(batch_tokens, limit)` tokens, so
memory stays bounded whatever the corpus holds. The limit is `max_tokens` when given, else
`DEFAULT_MAX_TOKENS`, and never more than the model's context when the backend reports one
(`n_ctx`). Every cut is counted (texts, tokens) and recorded in the bundle's metadata under
`corpus.truncation`.
"""

import warnings
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_TOKENS = 2048


class TruncationWarning(UserWarning):
    """Some texts were longer than extraction's token limit and were cut to it."""


def token_limit(backend: Any, max_tokens: int | None) -> int:
    """The number of tokens extraction keeps of each text (see the module docstring).

    Example:
        >>> class Backend: n_ctx = 1024
        >>> token_limit(Backend(), None), token_limit(Backend(), 100), token_limit(object(), None)
        (1024, 100, 2048)
    """
    if max_tokens is not None and (isinstance(max_tokens, bool) or int(max_tokens) < 1):
        raise ValueError(f"max_tokens must be a positive number of tokens, got {max_tokens!r}.")
    limit = DEFAULT_MAX_TOKENS if max_tokens is None else int(max_tokens)
    context = getattr(backend, "n_ctx", None)  # optional: not every backend knows its context
    return min(limit, int(context)) if isinstance(context, int) and context > 0 else limit


@dataclass
class Truncation:
    """Cuts rows of token ids to `limit` and counts what it cut.

    Example:
        >>> t = Truncation(3)
        >>> t.cut([1, 2, 3, 4, 5]), t.cut([1]), t.summary()
        ([1, 2, 3], [1], {'limit': 3, 'texts_cut': 1, 'tokens_cut': 2, 'longest': 5})
    """

    limit: int
    texts: int = 0
    tokens: int = 0
    longest: int = 0

    def cut(self, row: list[int]) -> list[int]:
        if len(row) <= self.limit:
            return row
        self.texts += 1
        self.tokens += len(row) - self.limit
        self.longest = max(self.longest, len(row))
        return row[: self.limit]

    def summary(self) -> dict[str, int]:
        """What the bundle records: the limit, texts cut, tokens dropped, the longest text."""
        return {
            "limit": self.limit,
            "texts_cut": self.texts,
            "tokens_cut": self.tokens,
            "longest": self.longest,
        }

    def warn(self) -> None:
        """One `TruncationWarning` for the whole run, if anything was cut."""
        if self.texts:
            warnings.warn(
                f"{self.texts} text(s) were longer than {self.limit} tokens and were cut to it"
                f" ({self.tokens} tokens dropped; the longest had {self.longest}); recorded in"
                " the bundle's metadata (corpus.truncation). Pass max_tokens (CLI: --max-tokens)"
                " to keep more, within the model's context.",
                TruncationWarning,
                stacklevel=3,
            )

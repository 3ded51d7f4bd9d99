"""Metrics on next-token logits: logit difference, choice probability, log-probability, KL.

A metric maps the logits at each prompt's last token (after an intervention) and the same
prompt's unedited logits (the reference) to one number per prompt. Token names are resolved
against the tokenizer by `check`, which the experiments call before any model call: a string
must encode to exactly one token (write `" calm"` with its leading space where the tokenizer
needs one).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

Token = str | int


def token_id(tokenizer: Any, token: Token) -> int:
    """The id of a single-token string (or an id, passed through).

    Raises:
        ValueError: The string encodes to zero or several tokens.
    """
    if isinstance(token, int) and not isinstance(token, bool):
        if token < 0:
            raise ValueError(f"Token ids are non-negative, got {token}.")
        return token
    if tokenizer is None:
        raise ValueError(f"Cannot resolve token {token!r}: the backend has no tokenizer; pass ids.")
    ids = list(tokenizer.encode(str(token), add_special_tokens=False))
    if len(ids) != 1:
        raise ValueError(
            f"{token!r} encodes to {len(ids)} tokens {ids}; a metric needs single tokens (try a"
            " shorter word, or with/without a leading space)."
        )
    return int(ids[0])


class Metric:
    """Base class: `check(tokenizer)` before any model call, then `metric(logits, reference)`."""

    name = "metric"

    def check(self, tokenizer: Any) -> "Metric":
        return self

    def __call__(
        self,
        logits: Float[Tensor, "batch d_vocab"],
        reference: Float[Tensor, "batch d_vocab"],
    ) -> Float[Tensor, " batch"]:
        raise NotImplementedError


@dataclass
class _Tokens:
    tokens: tuple[Token, ...]
    ids: list[int] = field(default_factory=list)

    def resolve(self, tokenizer: Any) -> list[int]:
        self.ids = [token_id(tokenizer, t) for t in self.tokens]
        return self.ids

    def get(self, d_vocab: int) -> list[int]:
        if not self.ids:
            if all(isinstance(t, int) for t in self.tokens):
                self.ids = [int(t) for t in self.tokens]
            else:
                raise ValueError(
                    "Call metric.check(tokenizer) before using a metric named by strings."
                )
        for i in self.ids:
            if i >= d_vocab:
                raise ValueError(f"Token id {i} is outside the vocabulary of {d_vocab}.")
        return self.ids


class LogitDiff(Metric):
    """`logit[a] - logit[b]` at the last token.

    Example:
        >>> LogitDiff(0, 1)(torch.tensor([[2.0, 0.5, 0.0]]), torch.zeros(1, 3))
        tensor([1.5000])
    """

    def __init__(self, a: Token, b: Token):
        self._tokens = _Tokens((a, b))
        self.name = f"logit[{a!r}] - logit[{b!r}]"

    def check(self, tokenizer: Any) -> "LogitDiff":
        self._tokens.resolve(tokenizer)
        return self

    def __call__(self, logits, reference):
        a, b = self._tokens.get(logits.shape[-1])
        return logits[:, a].float() - logits[:, b].float()


class Probability(Metric):
    """Probability of `choice`, over the whole vocabulary or renormalised over `among`.

    Example:
        >>> Probability(0, among=(0, 1))(torch.tensor([[0.0, 0.0, 9.0]]), torch.zeros(1, 3))
        tensor([0.5000])
    """

    def __init__(self, choice: Token, among: Sequence[Token] = ()):
        among = tuple(among)
        if among and choice not in among:
            among = (choice, *among)
        self._tokens = _Tokens((choice, *among))
        self._renorm = bool(among)
        self.name = f"P({choice!r}" + (f" | {', '.join(map(repr, among))})" if among else ")")

    def check(self, tokenizer: Any) -> "Probability":
        self._tokens.resolve(tokenizer)
        return self

    def __call__(self, logits, reference):
        ids = self._tokens.get(logits.shape[-1])
        logits = logits.float()
        if self._renorm:
            among = ids[1:]
            log_p = logits[:, among].log_softmax(-1)
            return log_p[:, among.index(ids[0])].exp()
        return logits.softmax(-1)[:, ids[0]]


class LogProb(Metric):
    """Log-probability of one token (e.g. the emotion word: `LogProb(" calm")`).

    Example:
        >>> LogProb(1)(torch.tensor([[0.0, 0.0]]), torch.zeros(1, 2)).exp()
        tensor([0.5000])
    """

    def __init__(self, token: Token):
        self._tokens = _Tokens((token,))
        self.name = f"log P({token!r})"

    def check(self, tokenizer: Any) -> "LogProb":
        self._tokens.resolve(tokenizer)
        return self

    def __call__(self, logits, reference):
        (i,) = self._tokens.get(logits.shape[-1])
        return logits.float().log_softmax(-1)[:, i]


class KL(Metric):
    """KL(reference || edited) of the next-token distributions, in nats.

    Example:
        >>> KL()(torch.zeros(1, 4), torch.zeros(1, 4))
        tensor([0.])
    """

    name = "KL(reference || edited)"

    def __call__(self, logits, reference):
        log_p = reference.float().log_softmax(-1)
        log_q = logits.float().log_softmax(-1)
        return (log_p.exp() * (log_p - log_q)).sum(-1).clamp(min=0.0)


def parse_metric(text: str) -> Metric:
    """A metric from the command line's spelling.

    `kl`; `logitdiff:A,B`; `prob:A` or `prob:A|A,B` (renormalised over A and B); `logprob: calm`.
    Tokens are taken literally (spaces included) and split on commas.

    Example:
        >>> parse_metric("prob:A|A,B").name
        "P('A' | 'A', 'B')"
    """
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind == "kl" and not rest:
        return KL()
    if kind == "logitdiff":
        parts = rest.split(",")
        if len(parts) == 2 and all(parts):
            return LogitDiff(parts[0], parts[1])
    if kind == "prob" and rest:
        choice, _, among = rest.partition("|")
        return Probability(choice, tuple(t for t in among.split(",") if t) if among else ())
    if kind == "logprob" and rest:
        return LogProb(rest)
    raise ValueError(
        f"Cannot read metric {text!r}: use 'kl', 'logitdiff:A,B', 'prob:A', 'prob:A|A,B' or"
        " 'logprob: word'."
    )


def kl_per_token(
    logits: Float[Tensor, "batch pos d_vocab"],
    reference: Float[Tensor, "batch pos d_vocab"],
    mask: Tensor,
) -> Float[Tensor, ""]:
    """Mean over masked positions of KL(reference || logits)."""
    log_p = reference.float().log_softmax(-1)
    log_q = logits.float().log_softmax(-1)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1)
    return kl[mask.bool()].mean() if bool(mask.any()) else torch.zeros(())

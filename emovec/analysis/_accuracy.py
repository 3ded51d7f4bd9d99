"""Top-k accuracy of scores against true labels: the yardstick of every identification test."""

from jaxtyping import Float, Int
from torch import Tensor


def topk_accuracy(logits: Float[Tensor, "n emotion"], labels: Int[Tensor, " n"], k: int) -> float:
    """Share of rows whose true label is among the `k` highest scores.

    Example:
        >>> import torch
        >>> s = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5]])
        >>> topk_accuracy(s, torch.tensor([0, 1]), 1), topk_accuracy(s, torch.tensor([0, 1]), 2)
        (0.5, 1.0)
    """
    top = logits.topk(min(k, logits.shape[1]), dim=1).indices
    return float((top == labels[:, None]).any(1).double().mean())

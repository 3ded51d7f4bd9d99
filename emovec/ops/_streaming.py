"""Streaming statistics: means and covariances over more rows than fit in memory.

Both accumulate in float64 and merge exactly with the pairwise formulas of Chan, Golub and
LeVeque (1979), so any split of the rows, merged in any order, gives the two-pass result. Memory
is that of the state (`d_model` or `d_model**2` numbers) plus one batch, whatever the row count.
"""

from collections.abc import Mapping

import torch
from jaxtyping import Float, Int
from torch import Tensor

from . import _checks

_F64 = torch.float64


def _combine(
    n_a: Tensor, mean_a: Tensor, n_b: Tensor, mean_b: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Merged count and mean of two parts, and the between-part delta (weights are counts)."""
    n = n_a + n_b
    share_b = n_b / torch.where(n > 0, n, 1.0)
    delta = mean_b - mean_a
    return n, mean_a + delta * share_b[..., None], delta


class RunningMean:
    """Mean of rows fed in batches; optionally weighted per row, optionally one per group.

    With `groups=G`, one accumulator holds G means (one per emotion, say) and each `update`
    routes its rows by an integer label, so extraction needs one object and one call per batch
    instead of one per emotion. Row weights (e.g. `1 / story_length`) give a mean of means.

    Args:
        d_model: Width of the rows.
        groups: Number of independent means, or None for a single one.
        device: Where the float64 state lives; rows are moved there.

    Example:
        >>> rm = RunningMean(2)
        >>> rm.update(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        >>> rm.update(torch.tensor([[5.0, 6.0]]))
        >>> rm.mean, rm.count
        (tensor([3., 4.], dtype=torch.float64), tensor(3., dtype=torch.float64))
    """

    __slots__ = ("_count", "_mean")

    def __init__(
        self, d_model: int, *, groups: int | None = None, device: torch.device | str | None = None
    ) -> None:
        if d_model < 1 or (groups is not None and groups < 1):
            raise ValueError(f"d_model and groups must be positive, got {d_model}, {groups}.")
        shape = () if groups is None else (groups,)
        self._count = torch.zeros(shape, dtype=_F64, device=device)
        self._mean = torch.zeros((*shape, d_model), dtype=_F64, device=device)

    @property
    def groups(self) -> int | None:
        return None if self._count.ndim == 0 else self._count.shape[0]

    @property
    def count(self) -> Float[Tensor, "*group"]:
        """Total weight seen (the number of rows when unweighted), per group."""
        return self._count.clone()

    @property
    def mean(self) -> Float[Tensor, "*group d_model"]:
        """The float64 mean so far; raises while any group is still empty."""
        empty = torch.nonzero(self._count.reshape(-1) == 0).flatten()
        if empty.numel():
            where = "" if self.groups is None else f" in groups {empty[:5].tolist()}"
            raise ValueError(f"No rows (or only zero weights) fed yet{where}: update first.")
        return self._mean.clone()

    def update(
        self,
        x: Float[Tensor, "n d_model"],
        *,
        weight: Float[Tensor, " n"] | None = None,
        group: Int[Tensor, " n"] | None = None,
    ) -> None:
        """Fold rows `x` in, with optional non-negative `weight`s and (if grouped) labels."""
        _checks.same_width(x, self._mean, "x", "the running mean")
        if (group is None) != (self.groups is None):
            raise ValueError("Pass `group` labels exactly when the mean was built with `groups`.")
        dev = self._mean.device
        w = None if weight is None else weight.to(dtype=_F64, device=dev)
        if w is not None:
            _checks.finite(w, "weight")
            if bool((w < 0).any()):
                raise ValueError("weight must be non-negative.")
        labels = None if group is None else group.to(dev)
        if labels is not None and labels.numel():
            if not (0 <= int(labels.min()) and int(labels.max()) < self._count.shape[0]):
                raise ValueError(f"group labels must lie in [0, {self.groups}).")
        # The float64 copy comes first and goes before the merge: made after the small tensors,
        # glibc tends to hand its pages back after every call, and page faults then dominate.
        rows = x.to(dtype=_F64, device=dev)
        if w is not None:
            rows = rows * w[:, None]
        if labels is None:
            sums = rows.sum(0)
            del rows
            # A NaN or Inf in any row makes its column's sum NaN or Inf (even times weight 0).
            _checks.finite_via(sums, x=x)
            n_b = float(x.shape[0]) if w is None else float(w.sum())
            n = float(self._count) + n_b
            # Chan et al.'s update, mean += (sum_b - n_b * mean) / n, in place on our state.
            if n > 0:
                self._mean.add_(torch.add(sums, self._mean, alpha=-n_b), alpha=1.0 / n)
            self._count.fill_(n)
            return
        ones = torch.ones(x.shape[0], dtype=_F64, device=dev) if w is None else w
        n_b = torch.zeros_like(self._count).index_add_(0, labels, ones)
        sums = torch.zeros_like(self._mean).index_add_(0, labels, rows)
        del rows
        # As above, via the float64 total of the sums: one reduction, no [groups, d_model] mask.
        _checks.finite_via(sums.sum(), x=x)
        n = self._count + n_b
        delta = torch.addcmul(sums, n_b[..., None], self._mean, value=-1.0)
        self._mean.addcdiv_(delta, torch.where(n > 0, n, 1.0)[..., None])
        self._count = n

    def merge(self, other: "RunningMean") -> "RunningMean":
        """A new accumulator holding both; neither input changes (exact, in any order).

        Example:
            >>> a, b = RunningMean(1), RunningMean(1)
            >>> a.update(torch.tensor([[1.0], [2.0]]))
            >>> b.update(torch.tensor([[6.0]]))
            >>> a.merge(b).mean, b.merge(a).count
            (tensor([3.], dtype=torch.float64), tensor(3., dtype=torch.float64))
        """
        if other._mean.shape != self._mean.shape:
            raise ValueError("Cannot merge running means of different widths or group counts.")
        n, mean, _ = _combine(
            self._count, self._mean, other._count.to(self._count), other._mean.to(self._mean)
        )
        return RunningMean._from(n, mean)

    def state_dict(self) -> dict[str, Tensor]:
        """Plain tensors (`count`, `mean`), e.g. for `safetensors.torch.save_file`.

        Example:
            >>> rm = RunningMean(2, groups=2)
            >>> rm.update(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), group=torch.tensor([1, 1]))
            >>> rm.state_dict()
            {'count': tensor([0., 2.], dtype=torch.float64), 'mean': tensor([[0., 0.],
                    [2., 3.]], dtype=torch.float64)}
        """
        return {"count": self._count.clone(), "mean": self._mean.clone()}

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Tensor]) -> "RunningMean":
        """Rebuild from `state_dict()`'s output (to resume an interrupted extraction).

        Example:
            >>> rm = RunningMean(2)
            >>> rm.update(torch.tensor([[1.0, 2.0]]))
            >>> resumed = RunningMean.from_state_dict(rm.state_dict())
            >>> resumed.update(torch.tensor([[3.0, 4.0]]))
            >>> resumed.mean
            tensor([2., 3.], dtype=torch.float64)
        """
        count, mean = state["count"].to(_F64), state["mean"].to(_F64)
        if count.ndim > 1 or mean.shape[:-1] != count.shape:
            raise ValueError("A RunningMean state needs count [] or [groups], mean [..., d_model].")
        return cls._from(count.clone(), mean.clone())

    @classmethod
    def _from(cls, count: Tensor, mean: Tensor) -> "RunningMean":
        new = cls.__new__(cls)
        new._count, new._mean = count, mean
        return new

    def __repr__(self) -> str:
        groups = "" if self.groups is None else f", groups={self.groups}"
        return f"RunningMean(d_model={self._mean.shape[-1]}{groups})"


class RunningCovariance:
    """Mean and covariance of rows fed in batches.

    Args:
        d_model: Width of the rows.
        device: Where the float64 state (`d_model**2` numbers) lives; rows are moved there.

    Example:
        >>> rc = RunningCovariance(2)
        >>> rc.update(torch.tensor([[0.0, 0.0], [2.0, 2.0]]))
        >>> rc.update(torch.tensor([[4.0, 1.0]]))
        >>> rc.covariance()
        tensor([[4., 1.],
                [1., 1.]], dtype=torch.float64)
    """

    __slots__ = ("_count", "_mean", "_m2")

    def __init__(self, d_model: int, *, device: torch.device | str | None = None) -> None:
        if d_model < 1:
            raise ValueError(f"d_model must be positive, got {d_model}.")
        self._count = torch.zeros((), dtype=_F64, device=device)
        self._mean = torch.zeros(d_model, dtype=_F64, device=device)
        self._m2 = torch.zeros(d_model, d_model, dtype=_F64, device=device)

    @property
    def count(self) -> int:
        """Rows seen so far."""
        return int(self._count)

    @property
    def mean(self) -> Float[Tensor, " d_model"]:
        """The float64 mean so far."""
        if self.count == 0:
            raise ValueError("No rows fed yet: update first.")
        return self._mean.clone()

    def covariance(self, *, unbiased: bool = True) -> Float[Tensor, "d_model d_model"]:
        """The float64 covariance: divided by `count - 1` (unbiased) or by `count` (population)."""
        dof = self.count - 1 if unbiased else self.count
        if dof < 1:
            raise ValueError(
                f"{self.count} row(s) are too few for a{'n unbiased' if unbiased else ''}"
                " covariance: feed more rows."
            )
        return (self._m2 + self._m2.mT) / (2 * dof)

    def update(self, x: Float[Tensor, "n d_model"]) -> None:
        """Fold rows `x` in."""
        _checks.same_width(x, self._mean, "x", "the running covariance")
        if x.shape[0] == 0:
            return
        # Our own float64 copy (copy=True even if x is float64 already), centred in place.
        rows = x.to(dtype=_F64, device=self._mean.device, copy=True)
        n_b = torch.tensor(float(x.shape[0]), dtype=_F64, device=rows.device)
        mean_b = rows.mean(0)
        _checks.finite_via(mean_b, x=x)  # a NaN or Inf in a row reaches its column's mean
        rows.sub_(mean_b)
        m2_b = rows.mT @ rows
        n_a = self._count
        self._count, self._mean, delta = _combine(n_a, self._mean, n_b, mean_b)
        # In place on the state, never on an input: no d x d temporaries beyond m2_b.
        m2_b.addr_(delta, delta, alpha=float(n_a * n_b / self._count))
        self._m2.add_(m2_b)

    def merge(self, other: "RunningCovariance") -> "RunningCovariance":
        """A new accumulator holding both; neither input changes (exact, in any order).

        Example:
            >>> a, b = RunningCovariance(1), RunningCovariance(1)
            >>> a.update(torch.tensor([[0.0], [2.0]]))
            >>> b.update(torch.tensor([[4.0]]))
            >>> a.merge(b).covariance(), a.count
            (tensor([[4.]], dtype=torch.float64), 2)
        """
        if other._mean.shape != self._mean.shape:
            raise ValueError("Cannot merge running covariances of different widths.")
        n_b, mean_b, m2_b = (t.to(self._mean) for t in (other._count, other._mean, other._m2))
        n, mean, delta = _combine(self._count, self._mean, n_b, mean_b)
        scale = float(self._count * n_b / n) if n > 0 else 0.0
        return RunningCovariance._from(
            n, mean, torch.addr(self._m2 + m2_b, delta, delta, alpha=scale)
        )

    def state_dict(self) -> dict[str, Tensor]:
        """Plain tensors (`count`, `mean`, `m2`), e.g. for `safetensors.torch.save_file`.

        `m2` is the sum of outer products of the centred rows (the covariance times `count - 1`).

        Example:
            >>> rc = RunningCovariance(1)
            >>> rc.update(torch.tensor([[0.0], [2.0]]))
            >>> rc.state_dict()
            {'count': tensor(2., dtype=torch.float64), 'mean': tensor([1.], dtype=torch.float64), 'm2': tensor([[2.]], dtype=torch.float64)}
        """
        return {"count": self._count.clone(), "mean": self._mean.clone(), "m2": self._m2.clone()}

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Tensor]) -> "RunningCovariance":
        """Rebuild from `state_dict()`'s output (to resume an interrupted extraction).

        Example:
            >>> rc = RunningCovariance(1)
            >>> rc.update(torch.tensor([[0.0], [2.0]]))
            >>> resumed = RunningCovariance.from_state_dict(rc.state_dict())
            >>> resumed.update(torch.tensor([[4.0]]))
            >>> resumed.covariance()
            tensor([[4.]], dtype=torch.float64)
        """
        count, mean, m2 = (state[key].to(_F64).clone() for key in ("count", "mean", "m2"))
        d = mean.shape[-1]
        if count.ndim != 0 or mean.ndim != 1 or m2.shape != (d, d):
            raise ValueError("A RunningCovariance state needs count [], mean [d], m2 [d, d].")
        return cls._from(count, mean, m2)

    @classmethod
    def _from(cls, count: Tensor, mean: Tensor, m2: Tensor) -> "RunningCovariance":
        new = cls.__new__(cls)
        new._count, new._mean, new._m2 = count, mean, m2
        return new

    def __repr__(self) -> str:
        return f"RunningCovariance(d_model={self._mean.shape[0]}, count={self.count})"

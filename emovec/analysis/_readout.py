"""How much of a human rating can a linear readout recover from the emotion vectors?

PCA asks whether valence is one of the *largest* axes; on a small model it may be a strong axis
without being the first. `loo_ridge_r` asks the other question: is the rating linearly readable
at all? Each emotion's rating is predicted by a ridge regression fitted on every *other* rated
emotion (leave-one-emotion-out), and the predictions are correlated with the ratings. The ridge
penalty is chosen inside each training fold (by the closed-form leave-one-out error of the
inner fits), so the held-out emotion never influences its own prediction. On pure noise the
leave-one-out r scatters around zero with a negative lean (a shrunk prediction leans towards
the training fold's mean, which moves against the left-out value): it errs low, never high.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

# Penalties tried, relative to the mean diagonal of the (centred) Gram matrix.
ALPHAS = (1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0)


def _inner_loo_errors(
    evals: Float[Tensor, "fold m"],
    evecs: Float[Tensor, "fold m m"],
    y: Float[Tensor, "fold m t"],
    alphas: Float[Tensor, "fold a"],
) -> Float[Tensor, "fold a t"]:
    """Leave-one-out squared error of kernel ridge (centred data) per fold, penalty and target.

    With the hat matrix H = K (K + a I)^-1, the leave-one-out residual of row i is
    (y_i - (H y)_i) / (1 - H_ii); one eigendecomposition per fold serves every penalty.
    """
    proj = torch.einsum("fmk,fmt->fkt", evecs, y)  # evecs^T y
    shrink = evals[:, None, :] / (evals[:, None, :] + alphas[:, :, None])  # [fold, a, m]
    fitted = torch.einsum("fmk,fak,fkt->famt", evecs, shrink, proj)
    hat_diag = torch.einsum("fmk,fak->fam", evecs**2, shrink)
    resid = (y[:, None] - fitted) / (1 - hat_diag).clamp(min=1e-9)[..., None]
    return (resid**2).mean(2)


def loo_ridge_predictions(
    x: Float[Tensor, "n d"],
    y: Float[Tensor, " rows *targets"],
    *,
    alphas: tuple[float, ...] = ALPHAS,
) -> Float[Tensor, " n *targets"]:
    """Each row's prediction from a ridge regression fitted on the other rows.

    Within each fold the features and targets are centred on the training rows, and the penalty
    is the one with the smallest inner leave-one-out error (relative to the mean of the Gram
    diagonal, so it does not depend on the vectors' scale). All folds are solved at once, and
    `y` may hold several targets as columns (`[n, t]`; each gets its own penalty), which share
    the folds' decompositions.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(30, 8, generator=g, dtype=torch.float64)
        >>> y = x[:, 0] * 2 + 0.01 * torch.randn(30, generator=g, dtype=torch.float64)
        >>> float(torch.corrcoef(torch.stack([loo_ridge_predictions(x, y), y]))[0, 1]) > 0.99
        True
    """
    if x.ndim != 2 or y.ndim not in (1, 2) or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x must be [n, d] and y [n] or [n, t]; got {tuple(x.shape)} and {tuple(y.shape)}."
        )
    n = x.shape[0]
    if n < 4:
        raise ValueError(f"A leave-one-out readout needs at least 4 rows, got {n}.")
    if not (bool(torch.isfinite(x).all()) and bool(torch.isfinite(y).all())):
        raise ValueError("x and y must be finite (no NaN or Inf).")
    single = y.ndim == 1
    x, y = x.double(), (y[:, None] if single else y).double()
    # Fold i keeps every row but i: index [fold, m] with m = n - 1.
    keep = torch.stack([torch.cat([torch.arange(i), torch.arange(i + 1, n)]) for i in range(n)])
    xt, yt = x[keep], y[keep]  # [fold, m, d], [fold, m, t]
    mx, my = xt.mean(1), yt.mean(1)
    xc, yc = xt - mx[:, None, :], yt - my[:, None, :]
    gram = xc @ xc.mT  # [fold, m, m]
    evals, evecs = torch.linalg.eigh(gram)
    evals = evals.clamp(min=0)
    scale = gram.diagonal(dim1=1, dim2=2).mean(1).clamp(min=1e-300)
    grid = torch.tensor(alphas, dtype=torch.float64)[None, :] * scale[:, None]  # [fold, a]
    errors = _inner_loo_errors(evals, evecs, yc, grid)  # [fold, a, t]
    best = grid.gather(1, errors.argmin(1))  # [fold, t]
    # coef = (K + a I)^-1 yc in the eigenbasis; prediction = my + (x_i - mx) xc^T coef.
    proj = torch.einsum("fmk,fmt->fkt", evecs, yc) / (evals[:, :, None] + best[:, None, :])
    coef = torch.einsum("fmk,fkt->fmt", evecs, proj)
    weights = torch.einsum("fmd,fmt->fdt", xc, coef)
    out = my + torch.einsum("fd,fdt->ft", x - mx, weights)
    return out[:, 0] if single else out


def loo_ridge_r(x: Float[Tensor, "n d"], y: Float[Tensor, " rows"]) -> float:
    """Pearson r between leave-one-out ridge predictions and the targets (see module docs).

    Example:
        >>> g = torch.Generator().manual_seed(1)
        >>> x = torch.randn(40, 16, generator=g, dtype=torch.float64)
        >>> loo_ridge_r(x, x[:, 3] - x[:, 5]) > 0.95, abs(loo_ridge_r(x, torch.randn(40, generator=g))) < 0.5
        (True, True)
    """
    pred = loo_ridge_predictions(x, y)
    return float(torch.corrcoef(torch.stack([pred, y.double()]))[0, 1])


@dataclass(frozen=True)
class ReadoutTable:
    """Per site, the leave-one-emotion-out readout r of each rating (see `loo_ridge_r`)."""

    sites: tuple[str, ...]
    r: dict[str, tuple[float, ...]]  # rating -> one r per site
    n_rated: int

    def best(self, rating: str) -> tuple[str, float]:
        values = self.r[rating]
        i = max(range(len(values)), key=lambda k: values[k])
        return self.sites[i], values[i]

    def table(self) -> str:
        names = list(self.r)
        lines = [f"{'site':16s}" + "".join(f" {'readout r ' + n[:3]:>14s}" for n in names)]
        for i, site in enumerate(self.sites):
            lines.append(f"{site:16s}" + "".join(f" {self.r[n][i]:+14.3f}" for n in names))
        lines.append(
            f"leave-one-emotion-out ridge readout of human ratings from the vectors ({self.n_rated}"
            " rated emotions; penalty chosen inside each training fold)"
        )
        return "\n".join(lines)


def readout_by_site(
    vectors: Any, rated: Sequence[str], targets: Mapping[str, Float[Tensor, " rated"]]
) -> ReadoutTable:
    """`loo_ridge_r` of each target at every site of a bundle, over the `rated` emotions
    (every target shares each fold's decomposition). `readout_table` supplies human norms.

    Example:
        >>> from emovec import Site
        >>> from emovec.vectors import EmotionVectors
        >>> names = [f"e{i}" for i in range(12)]
        >>> v = torch.randn(12, 1, 8, generator=torch.Generator().manual_seed(0))
        >>> t = readout_by_site(EmotionVectors(v, names, [Site(0)]), names, {"x": v[:, 0, 0]})
        >>> t.best("x")[1] > 0.9
        True
    """
    names = list(targets)
    rows = torch.tensor([vectors.index(e) for e in rated])
    stacked = torch.stack([targets[n].double() for n in names], dim=1)
    out: dict[str, list[float]] = {n: [] for n in names}
    for site in vectors.sites:
        predicted = loo_ridge_predictions(vectors.at(site).double()[rows], stacked)
        for i, n in enumerate(names):
            out[n].append(
                float(torch.corrcoef(torch.stack([predicted[:, i], stacked[:, i]]))[0, 1])
            )
    return ReadoutTable(
        tuple(str(s) for s in vectors.sites), {n: tuple(v) for n, v in out.items()}, len(rows)
    )

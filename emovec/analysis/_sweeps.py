"""Intensity sweeps: do the probes respond to situations, not words?

A family is one prompt with a number in it, swept from harmless to severe ("I just took {x} mg
of tylenol"); per site, `intensity_sweep` gives Spearman's rho of the number against each
expected emotion's probe (read as by `read_probes`), and for each emotion's best layer a
permutation p-value. Shipped families: `emovec/data/sweeps/*.txt` (format: `load_families`).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emovec._site import Site
from emovec.vectors import EmotionVectors

from ._readings import ReadAt, read_probes
from ._stimuli import Family, load_families


@dataclass(frozen=True)
class FamilySweep:
    """One family's probe readings and their rank correlation with the number, per site.

    Attributes:
        family: The family.
        sites: Sites read.
        probes: `{emotion: [value, site] readings}` for the family's emotions in the bundle.
        rho: `{emotion: per-site Spearman rho of number vs reading}`.
        agreement: Per site, the mean of rho over rising emotions and of -rho over falling
            ones (1 = every expected direction perfectly monotone).
        missing: Expected emotions that the bundle does not hold.
        p_best: `{emotion: p}`, a permutation test of the best-layer rho: the share of random
            orderings of the numbers whose best layer (in the expected direction) does at
            least as well. Picking the best of many layers on a handful of values finds a
            large rho by chance alone; this p says how often.
    """

    family: Family
    sites: tuple[Site, ...]
    probes: dict[str, list[list[float]]]
    rho: dict[str, list[float]]
    agreement: list[float]
    missing: tuple[str, ...]
    p_best: dict[str, float] = field(default_factory=dict)

    def best(self, emotion: str) -> tuple[Site, float]:
        """The site where `emotion` moves most in its expected direction, and its rho."""
        sign = -1.0 if emotion in self.family.falls else 1.0
        rhos = self.rho[emotion]
        j = max(range(len(rhos)), key=lambda i: sign * _nan_low(rhos[i]))
        return self.sites[j], rhos[j]

    @property
    def best_site(self) -> Site:
        """The site with the highest `agreement`."""
        return self.sites[max(range(len(self.sites)), key=lambda i: _nan_low(self.agreement[i]))]

    def as_dict(self) -> dict[str, Any]:
        f = self.family
        return {
            "family": f.name,
            "prompt": f.prompt,
            "values": list(f.values),
            "unit": f.unit,
            "rises": list(f.rises),
            "falls": list(f.falls),
            "missing": list(self.missing),
            "sites": [str(s) for s in self.sites],
            "rho": self.rho,
            "agreement": self.agreement,
            "best_site": str(self.best_site),
            "best": {
                e: {"site": str(s), "rho": r, "p": self.p_best.get(e)}
                for e in self.rho
                for s, r in [self.best(e)]
            },
            "probes": self.probes,
        }


def _standard(x: np.ndarray) -> np.ndarray:
    """Centre and scale the columns to unit norm (a zero column stays zero)."""
    x = x - x.mean(0)
    norm = np.linalg.norm(x, axis=0)
    return x / np.where(norm > 0, norm, 1.0)


def _standard_ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks of each column (scipy's `rankdata`), centred and scaled to unit norm: the
    dot product of two such columns is their Spearman rho."""
    from scipy.stats import rankdata

    return _standard(rankdata(x, axis=0))


def _rank_correlations(x: np.ndarray, readings: np.ndarray) -> list[float]:
    """Spearman rho of `x` against each column of `readings`; NaN where either is constant.

    One ranking of all sites and one product, rather than an `emovec.ops.spearman` call (~0.5 ms)
    per emotion and site; the tests hold it to `spearman` within 1e-12. One square root of the
    product of the squared norms (not two normalisations) keeps a perfect rho exactly 1.
    """
    from scipy.stats import rankdata

    rx = rankdata(x) - (len(x) + 1) / 2
    ry = rankdata(readings, axis=0) - (len(x) + 1) / 2
    with np.errstate(invalid="ignore"):  # a constant side: 0 / 0, NaN as wanted
        return (rx @ ry / np.sqrt((rx @ rx) * (ry * ry).sum(0))).tolist()


def _p_best(x: np.ndarray, readings: np.ndarray, sign: float, n: int, seed: int) -> float:
    """Permutation p-value of the best-layer Spearman rho (in direction `sign`)."""
    if n <= 0:
        return float("nan")
    zy = _standard_ranks(readings)  # [value, site]
    zx = _standard_ranks(x)
    observed = float(np.max(sign * (zx @ zy)))
    rng = np.random.default_rng(seed)
    shuffled = rng.permuted(np.tile(zx, (n, 1)), axis=1)  # [n, value]
    null = np.max(sign * (shuffled @ zy), axis=1)
    return float((1 + np.sum(null >= observed - 1e-12)) / (1 + n))


def _nan_low(x: float) -> float:
    return -math.inf if math.isnan(x) else x


@dataclass(frozen=True)
class SweepReport:
    """Every family's sweep, and how the probes were read."""

    families: tuple[FamilySweep, ...]
    read_at: str
    notes: tuple[str, ...] = field(default=())

    def family(self, name: str) -> FamilySweep:
        for f in self.families:
            if f.family.name == name:
                return f
        raise KeyError(f"No family {name!r} in this sweep report.")

    def as_dict(self) -> dict[str, Any]:
        return {
            "read_at": self.read_at,
            "notes": list(self.notes),
            "families": [f.as_dict() for f in self.families],
        }


def intensity_sweep(
    backend: Any,
    vectors: EmotionVectors,
    families: "Sequence[Family] | None" = None,
    *,
    read_at: ReadAt = "assistant",
    batch_size: int = 16,
    allow_mismatch: bool = False,
    n_permutations: int = 1000,
    seed: int = 0,
) -> SweepReport:
    """Spearman rho of each family's number against its expected emotions' probes, per site.

    Args:
        backend: The model the vectors came from.
        vectors: The bundle.
        families: Families to run (default: `load_families()`, the shipped ones).
        read_at: Where to read the probes (see `read_probes`).
        batch_size: Prompts per forward pass.
        allow_mismatch: Passed to `vectors.check` (deliberate cross-model use).
        n_permutations: Random orderings for each best-layer p-value (0 skips the test).
        seed: Seeds the permutations.

    Returns:
        A `SweepReport`. Expected emotions missing from the bundle are listed per family and
        skipped; a family with none of its emotions in the bundle is skipped with a note.

    Example:
        >>> import torch
        >>> from types import SimpleNamespace as NS
        >>> class Toy:  # a toy model whose residual is (dose, -dose), read at any token
        ...     d_model, n_layers, model_id, tokenizer = 2, 1, "toy", NS(chat_template=None)
        ...     def tokenize(self, texts, chat=False):  # "Human: I took 200 mg. ..."
        ...         return [float(t.split()[3]) for t in texts]
        ...     def capture(self, doses, sites, reducer):
        ...         return {s: torch.tensor([[d, -d] for d in doses]) for s in sites}
        >>> ev = EmotionVectors(torch.eye(2)[:, None], ["afraid", "calm"], [Site(0)])
        >>> fam = Family("t", "I took {x} mg.", ("200", "1000", "8000"), ("afraid",), ("calm",))
        >>> sweep = intensity_sweep(Toy(), ev, [fam]).family("t")
        >>> sweep.rho, sweep.agreement
        ({'afraid': [1.0], 'calm': [-1.0]}, [1.0])
    """
    families = load_families() if families is None else list(families)
    vectors.check(backend, allow_mismatch=allow_mismatch)
    index = {e: i for i, e in enumerate(vectors.emotions)}
    results, notes = [], []
    for fam in families:
        wanted = [e for e in (*fam.rises, *fam.falls) if e in index]
        missing = tuple(e for e in (*fam.rises, *fam.falls) if e not in index)
        if not wanted:
            notes.append(f"family {fam.name!r} skipped: none of {missing} is in the bundle")
            continue
        readings = read_probes(
            backend,
            vectors,
            fam.prompts(),
            read_at=read_at,
            batch_size=batch_size,
            allow_mismatch=allow_mismatch,
        )
        x = np.asarray(fam.numbers())
        probes, rho, p_best = {}, {}, {}
        for e in wanted:
            col = readings[:, :, index[e]].numpy()  # [value, site]
            probes[e] = col.tolist()
            rho[e] = _rank_correlations(x, col)
            sign = -1.0 if e in fam.falls else 1.0
            p_best[e] = _p_best(x, col, sign, n_permutations, seed)
        agreement = [
            float(
                np.mean(
                    [rho[e][j] for e in fam.rises if e in rho]
                    + [-rho[e][j] for e in fam.falls if e in rho]
                )
            )
            for j in range(len(vectors.sites))
        ]
        results.append(FamilySweep(fam, vectors.sites, probes, rho, agreement, missing, p_best))
    return SweepReport(tuple(results), read_at, tuple(notes))


def plot_family(sweep: FamilySweep) -> Any:
    """Left: rho per layer for each expected emotion. Right: readings against the number at
    the family's best site. Returns the matplotlib figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.0, 3.8), layout="constrained")
    ax, bx = fig.subplots(1, 2)
    f = sweep.family
    layers = [s.layer for s in sweep.sites]
    best = sweep.sites.index(sweep.best_site)
    for e in sweep.rho:
        style = "-" if e in f.rises else "--"
        ax.plot(
            layers,
            sweep.rho[e],
            style,
            marker="o",
            ms=3,
            label=f"{e} ({'rises' if e in f.rises else 'falls'})",
        )
        readings = np.asarray(sweep.probes[e])[:, best]
        span = readings.max() - readings.min()
        bx.plot(
            f.numbers(),
            (readings - readings.min()) / (span if span > 0 else 1.0),
            style,
            marker="o",
            ms=3,
            label=e,
        )
    ax.plot(layers, sweep.agreement, color="k", lw=2, label="agreement")
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("layer")
    ax.set_ylabel("Spearman rho (number vs probe)")
    ax.set_title(f"{f.name}: {f.prompt}", fontsize=8)
    ax.legend(fontsize=6)
    bx.set_xscale("log" if min(f.numbers()) > 0 else "linear")
    bx.set_xlabel(f.unit or "x")
    bx.set_ylabel("probe (min-max scaled)")
    bx.set_title(f"readings at {sweep.best_site}", fontsize=9)
    bx.legend(fontsize=6)
    return fig

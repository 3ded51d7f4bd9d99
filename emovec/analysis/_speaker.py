"""How present-speaker and other-speaker vectors relate, and whether the addressed speaker's
emotion can be read from the other speaker's tokens.

The paper: present- and other-speaker vectors of the same emotion are nearly orthogonal, yet
their emotion-by-emotion similarity structures are shared. `speaker_report` measures both per
site (mean cosine of matching vectors; RSA of the two cosine matrices) and a held-out test:
vectors trained on some dialogues name the emotion of the *other* speaker from a speaker's own
tokens in unseen dialogues (dialogues split into folds).
"""

import random
from dataclasses import dataclass
from typing import Any

import torch

from emovec._site import Site
from emovec.extract._recipe import emotion_directions, finish_vectors, neutral_components
from emovec.extract._speaker import SpeakerVectors, _labelled_rows
from emovec.ops import cosine_matrix, reject, rsa, scores


@dataclass(frozen=True)
class SpeakerSite:
    """One site: present vs other vectors, and held-out identification."""

    site: Site
    matching_cosine: float  # mean cos(present[e], other[e])
    matching_abs_max: float  # largest |cos(present[e], other[e])|
    rsa: float  # Spearman of the two emotion-by-emotion cosine matrices
    heldout_other: float  # top-1: the addressed speaker's emotion from the speaker's tokens
    heldout_present: float  # top-1: the speaker's own emotion
    heldout_other_clean: float = float("nan")  # other@1 with the own-emotion subspace removed


@dataclass(frozen=True)
class SpeakerReport:
    rows: tuple[SpeakerSite, ...]
    emotions: tuple[str, ...]
    folds: int
    n_dialogues: int

    @property
    def chance(self) -> float:
        return 1.0 / len(self.emotions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "emotions": list(self.emotions),
            "chance": self.chance,
            "folds": self.folds,
            "n_dialogues": self.n_dialogues,
            "rows": [
                {
                    "site": str(r.site),
                    "matching_cosine": r.matching_cosine,
                    "matching_abs_max": r.matching_abs_max,
                    "rsa": r.rsa,
                    "heldout_other": r.heldout_other,
                    "heldout_present": r.heldout_present,
                    "heldout_other_clean": r.heldout_other_clean,
                }
                for r in self.rows
            ],
        }

    def table(self) -> str:
        lines = [
            f"{'site':16s} {'cos(pres,oth)':>13s} {'max |cos|':>9s} {'RSA':>6s}"
            f" {'other@1':>8s} {'other@1-own':>11s} {'present@1':>9s}"
        ]
        for r in self.rows:
            lines.append(
                f"{str(r.site):16s} {r.matching_cosine:13.3f} {r.matching_abs_max:9.3f}"
                f" {r.rsa:6.3f} {r.heldout_other:8.3f} {r.heldout_other_clean:11.3f}"
                f" {r.heldout_present:9.3f}"
            )
        lines.append(
            f"{len(self.emotions)} emotions, {self.n_dialogues} dialogues, {self.folds}-fold"
            f" held-out by dialogue; chance@1 = {self.chance:.3f}. cos(pres,oth): mean cosine of"
            " an emotion's present- and other-speaker vectors (the paper: near 0); RSA: Spearman"
            " of their cosine matrices (the paper: shared structure). other@1-own: the addressed"
            " speaker's emotion with the speaker's own-emotion subspace (the training fold's"
            " present-speaker directions) projected out of both the tokens and the vectors."
        )
        return "\n".join(lines)


def speaker_report(sv: SpeakerVectors, *, folds: int = 4, seed: int = 0) -> SpeakerReport:
    """Per-site comparison of present and other vectors, and held-out identification."""
    emotions = sv.present.emotions
    if sv.other.emotions != emotions:
        raise ValueError("Present and other bundles must hold the same emotions in one order.")
    n = len(sv.records)
    if folds < 2 or folds > n:
        raise ValueError(f"folds must lie in [2, {n}], got {folds}.")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    fold_of = {d: k % folds for k, d in enumerate(order)}
    heldout = {
        "other": _heldout(sv, False, fold_of, folds),
        "present": _heldout(sv, True, fold_of, folds),
        "other_clean": _heldout(sv, False, fold_of, folds, remove_own=True),
    }
    rows = []
    for j, site in enumerate(sv.present.sites):
        p, o = sv.present.at(site).double(), sv.other.at(site).double()
        matching = (p * o).sum(-1)
        rows.append(
            SpeakerSite(
                site,
                float(matching.mean()),
                float(matching.abs().max()),
                rsa(cosine_matrix(p, p), cosine_matrix(o, o)),
                heldout["other"][j],
                heldout["present"][j],
                heldout["other_clean"][j],
            )
        )
    return SpeakerReport(tuple(rows), tuple(emotions), folds, n)


def _heldout(
    sv: SpeakerVectors,
    present: bool,
    fold_of: dict[int, int],
    folds: int,
    *,
    remove_own: bool = False,
) -> list[float]:
    """Per site, top-1 accuracy of held-out rows (by dialogue fold) for one label kind; with
    `remove_own`, the span of the fold's present-speaker directions is projected out of the
    rows and the vectors first (so the speaker's own emotion cannot stand in for the other's)."""
    d_idx, roles, labels = _labelled_rows(sv.records, present)
    own = _labelled_rows(sv.records, True) if remove_own else None
    emotions = list(sv.present.emotions)
    index = {e: i for i, e in enumerate(emotions)}
    x = sv.means.means(d_idx, roles)  # [rows, site, d]
    y = torch.tensor([index[label] for label in labels])
    fold = torch.tensor([fold_of[d] for d in d_idx])
    components = _neutral(sv, x.shape[1])
    correct = torch.zeros(x.shape[1])
    total = 0
    for k in range(folds):
        train, test = fold != k, fold == k
        if not bool(test.any()):
            continue
        present_in_train = set(y[train].tolist())
        if len(present_in_train) < len(emotions):
            raise ValueError("A fold left some emotion without training rows: use fewer folds.")
        total += int(test.sum())
        for j in range(x.shape[1]):
            means = torch.stack([x[train & (y == e), j].mean(0) for e in range(len(emotions))])
            centre = means.mean(0)
            directions = emotion_directions(means)
            rows = x[test, j] - centre
            if own is not None:
                basis = _own_basis(sv, own, fold_of, k, j, index)
                directions, rows = reject(directions, basis), reject(rows, basis)
            unit, _ = finish_vectors(directions, components[j])
            pred = scores(rows, unit).argmax(1)
            correct[j] += float((pred == y[test]).sum())
    return (correct / max(total, 1)).tolist()


def _own_basis(
    sv: SpeakerVectors,
    own: tuple[list[int], list[int], list[str]],
    fold_of: dict[int, int],
    fold: int,
    site: int,
    index: dict[str, int],
) -> torch.Tensor:
    """Orthonormal rows spanning the training fold's present-speaker directions at one site."""
    d_idx, roles, labels = own
    keep = [i for i, d in enumerate(d_idx) if fold_of[d] != fold]
    x = sv.means.means([d_idx[i] for i in keep], [roles[i] for i in keep])[:, site]
    y = torch.tensor([index[labels[i]] for i in keep])
    means = torch.stack([x[y == e].mean(0) for e in range(len(index))])
    q, r = torch.linalg.qr(emotion_directions(means).T)
    rank = int((r.diagonal().abs() > 1e-8 * r.diagonal().abs().max()).sum())
    return q[:, :rank].T


def _neutral(sv: SpeakerVectors, n_sites: int) -> list[torch.Tensor]:
    stats = sv.neutral_stats
    variance = float(sv.present.metadata.get("recipe", {}).get("neutral_variance", 0.5))
    if stats is None or variance == 0:
        return [torch.zeros(0, sv.present.d_model, dtype=torch.float64)] * n_sites
    out = []
    for site in sv.present.sites:
        cov = stats.covariances[site]
        out.append(neutral_components(cov.covariance(), cov.mean, variance=variance)[0].double())
    return out

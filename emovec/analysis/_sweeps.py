"""Implicit scenarios and intensity sweeps: do the probes respond to situations, not words?

Probes are read at one token per prompt: by default the position right before the assistant's
reply (`read_at="assistant"`: the last token of the chat-templated prompt with the generation
prompt added; for a model without a chat template, the ":" of "Human: ...\\n\\nAssistant:"),
or the prompt's own last token (`read_at="prompt"`). The paper reads at the Assistant colon.

- **Intensity sweeps** (`intensity_sweep`): a family is one prompt with a number in it, swept
  from harmless to severe ("I just took {x} mg of tylenol"); per site, Spearman's rho of the
  number against each expected emotion's probe. Shipped families: `emovec/data/sweeps/*.txt`.
- **Implicit scenarios** (`implicit_scenarios`): prompts that evoke an emotion without naming
  it; per site, the probes-by-scenarios matrix (each probe z-scored across scenarios) and how
  often a scenario's own emotion is the top probe among the scenario emotions.

Family file format (`.txt`): blocks of `key: value` lines, each block starting with `family:`;
keys `prompt` (with `{x}`), `values` (comma separated numbers), `rises`, `falls` (comma
separated emotions), optional `unit`; `#` comments. Or `.jsonl`: one object per line with the
same keys (`values`, `rises`, `falls` as lists). Scenario files (`.jsonl`): one
`{"emotion": ..., "prompt": ...}` per line. Every malformed line raises a `ValueError` naming
the file and line.
"""

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from emovec._batch import last_token
from emovec._site import Site
from emovec.ops import scores
from emovec.vectors import EmotionVectors

from ._geometry_report import _corr, _ranks

ReadAt = Literal["assistant", "prompt"]
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_KEYS = ("family", "prompt", "values", "unit", "rises", "falls")
SWEEPS_DIR = "sweeps"


@dataclass(frozen=True)
class Family:
    """One intensity sweep: a prompt with `{x}`, the numbers, and the expected direction.

    Example:
        >>> f = Family("t", "I took {x} mg.", ("200", "4000"), rises=("afraid",))
        >>> f.prompts(), f.numbers()
        (['I took 200 mg.', 'I took 4000 mg.'], [200.0, 4000.0])
    """

    name: str
    prompt: str
    values: tuple[str, ...]
    rises: tuple[str, ...] = ()
    falls: tuple[str, ...] = ()
    unit: str = ""
    source: str = ""

    def prompts(self) -> list[str]:
        return [self.prompt.replace("{x}", v) for v in self.values]

    def numbers(self) -> list[float]:
        return [float(v.replace(",", "").replace("_", "")) for v in self.values]


@dataclass(frozen=True)
class Scenario:
    """A prompt that should evoke `emotion` without naming it."""

    emotion: str
    prompt: str


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _check_family(fields: dict[str, tuple[str, int]], where: str) -> Family:
    """A `Family` from `{key: (value, line)}`; errors name the file and the offending line."""
    name, line = fields["family"]
    if not _NAME.match(name):
        raise ValueError(
            f"{where}, line {line}: family name {name!r} may use only letters, digits, - and _."
        )
    first = line
    for key in ("prompt", "values"):
        if key not in fields:
            raise ValueError(f"{where}, line {first}: family {name!r} has no '{key}:' line.")
    prompt, pline = fields["prompt"]
    if prompt.count("{x}") != 1:
        raise ValueError(
            f"{where}, line {pline}: the prompt of family {name!r} must contain {{x}} exactly once."
        )
    values_text, vline = fields["values"]
    values = _split_list(values_text)
    for v in values:
        try:
            number = float(v.replace("_", ""))
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ValueError(
                f"{where}, line {vline}: value {v!r} of family {name!r} is not a number."
            )
    if len(values) < 3 or len(set(float(v) for v in values)) < 3:
        raise ValueError(
            f"{where}, line {vline}: family {name!r} needs at least 3 distinct values for a"
            " rank correlation."
        )
    rises = _split_list(fields.get("rises", ("", 0))[0])
    falls = _split_list(fields.get("falls", ("", 0))[0])
    if not rises and not falls:
        raise ValueError(
            f"{where}, line {first}: family {name!r} names no emotions: add 'rises:' or 'falls:'."
        )
    both = set(rises) & set(falls)
    if both:
        raise ValueError(
            f"{where}, line {fields['falls'][1]}: family {name!r} lists {sorted(both)} as both"
            " rising and falling."
        )
    return Family(name, prompt, values, rises, falls, fields.get("unit", ("", 0))[0], where)


def _families_txt(text: str, where: str) -> list[Family]:
    blocks: list[dict[str, tuple[str, int]]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, colon, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if not colon or key not in _KEYS:
            raise ValueError(
                f"{where}, line {number}: expected 'key: value' with a key among"
                f" {', '.join(_KEYS)}; got {raw.strip()[:60]!r}."
            )
        if not value:
            raise ValueError(f"{where}, line {number}: '{key}:' has no value.")
        if key == "family":
            blocks.append({})
        elif not blocks:
            raise ValueError(f"{where}, line {number}: '{key}:' before any 'family:' line.")
        if key in blocks[-1]:
            raise ValueError(
                f"{where}, line {number}: '{key}:' repeated in one family (first on line"
                f" {blocks[-1][key][1]})."
            )
        blocks[-1][key] = (value, number)
    return [_check_family(b, where) for b in blocks]


def _families_jsonl(text: str, where: str) -> list[Family]:
    families = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}, line {number}: not valid JSON ({err.msg}).") from None
        if not isinstance(obj, dict) or "family" not in obj:
            raise ValueError(f"{where}, line {number}: expected an object with a 'family' key.")
        unknown = set(obj) - set(_KEYS)
        if unknown:
            raise ValueError(f"{where}, line {number}: unknown key(s) {sorted(unknown)}.")
        fields = {}
        for key, value in obj.items():
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value)
            fields[key] = (str(value), number)
        families.append(_check_family(fields, where))
    return families


def load_families(path: "str | PathLike[str] | None" = None) -> list[Family]:
    """Intensity-sweep families from a `.txt` or `.jsonl` file (see the module docstring).

    Args:
        path: A family file; None loads every shipped file (`emovec/data/sweeps/*.txt`).

    Returns:
        The families, in file order.

    Raises:
        ValueError: A malformed line (the message names the file and line), or a family name
            used twice.

    Example:
        >>> [f.name for f in load_families()][:2]
        ['tylenol', 'missing-child']
    """
    if path is None:
        folder = resources.files("emovec").joinpath("data", SWEEPS_DIR)
        texts = [
            (f.read_text(encoding="utf-8"), f"emovec/data/{SWEEPS_DIR}/{f.name}", ".txt")
            for f in sorted(folder.iterdir(), key=lambda f: f.name)
            if f.name.endswith(".txt")
        ]
    else:
        p = Path(path)
        try:
            texts = [(p.read_text(encoding="utf-8"), str(p), p.suffix.lower())]
        except FileNotFoundError:
            raise FileNotFoundError(f"Family file {p} does not exist.") from None
    families: list[Family] = []
    for text, where, suffix in texts:
        if suffix not in (".txt", ".jsonl"):
            raise ValueError(f"{where}: family files end in .txt or .jsonl.")
        found = _families_jsonl(text, where) if suffix == ".jsonl" else _families_txt(text, where)
        if not found:
            raise ValueError(f"{where} defines no family: start a block with 'family: NAME'.")
        families.extend(found)
    seen: dict[str, str] = {}
    for f in families:
        if f.name in seen:
            raise ValueError(f"Family {f.name!r} is defined twice ({seen[f.name]} and {f.source}).")
        seen[f.name] = f.source
    return families


def load_scenarios(path: "str | PathLike[str] | None" = None) -> list[Scenario]:
    """Implicit scenarios from a JSONL file of `{"emotion": ..., "prompt": ...}` lines.

    Args:
        path: The file; None loads the shipped `emovec/data/sweeps/scenarios.jsonl`.

    Raises:
        ValueError: A malformed line (naming the file and line).

    Example:
        >>> load_scenarios()[0].emotion
        'afraid'
    """
    if path is None:
        text = resources.files("emovec").joinpath("data", SWEEPS_DIR, "scenarios.jsonl")
        text, where = text.read_text(encoding="utf-8"), f"emovec/data/{SWEEPS_DIR}/scenarios.jsonl"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"Scenario file {path} does not exist.") from None
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}, line {number}: not valid JSON ({err.msg}).") from None
        if (
            not isinstance(obj, dict)
            or not isinstance(obj.get("emotion"), str)
            or not isinstance(obj.get("prompt"), str)
            or not obj["prompt"].strip()
        ):
            raise ValueError(
                f'{where}, line {number}: expected {{"emotion": ..., "prompt": ...}} with'
                " non-empty strings."
            )
        out.append(Scenario(obj["emotion"].strip(), obj["prompt"].strip()))
    if not out:
        raise ValueError(f"{where} holds no scenarios.")
    return out


def read_probes(
    backend: Any,
    vectors: EmotionVectors,
    prompts: Sequence[str],
    *,
    read_at: ReadAt = "assistant",
    batch_size: int = 16,
    allow_mismatch: bool = False,
) -> Float[Tensor, "batch site emotion"]:
    """Probe scores of every emotion at every site of `vectors`, one reading per prompt.

    Args:
        backend: The model the vectors came from.
        vectors: The bundle (its sites are read).
        prompts: User messages.
        read_at: "assistant" (right before the reply) or "prompt" (the message's last token).
        batch_size: Prompts per forward pass.
        allow_mismatch: Passed to `vectors.check` (deliberate cross-model use).

    Returns:
        `emovec.ops.scores` of the activation at the read token against the unit vectors.
    """
    vectors.check(backend, allow_mismatch=allow_mismatch)
    texts, chat = _framed(backend, prompts, read_at)
    sites = list(vectors.sites)
    out = []
    for i in range(0, len(texts), batch_size):
        batch = backend.tokenize(texts[i : i + batch_size], chat=chat)
        captured = backend.capture(batch, sites, last_token)
        out.append(
            torch.stack(
                [scores(captured[s].float().cpu(), vectors.at(s).float()) for s in sites], dim=1
            )
        )
    return torch.cat(out).double()


def _framed(backend: Any, prompts: Sequence[str], read_at: ReadAt) -> tuple[list[str], bool]:
    """The texts to tokenize and whether to apply the chat template."""
    if read_at == "prompt":
        return list(prompts), False
    if read_at != "assistant":
        raise ValueError(f"read_at must be 'assistant' or 'prompt', got {read_at!r}.")
    if getattr(backend.tokenizer, "chat_template", None):
        return list(prompts), True
    return [f"Human: {p}\n\nAssistant:" for p in prompts], False


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    return _corr(_ranks(x), _ranks(y))


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


def _p_best(x: np.ndarray, readings: np.ndarray, sign: float, n: int, seed: int) -> float:
    """Permutation p-value of the best-layer Spearman rho (in direction `sign`)."""
    if n <= 0:
        return float("nan")
    ranks = np.stack([_ranks(readings[:, j]) for j in range(readings.shape[1])], axis=1)
    zy = _standard(ranks)  # [value, site]
    zx = _standard(_ranks(x)[:, None])[:, 0]
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
            rho[e] = [_spearman(x, col[:, j]) for j in range(col.shape[1])]
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


@dataclass(frozen=True)
class ScenarioReport:
    """Probes x scenarios at every site.

    Attributes:
        scenarios: The scenarios whose emotion is in the bundle.
        emotions: The distinct scenario emotions (the probes compared).
        sites: Sites read.
        matrix: `[site, scenario, emotion]` probe readings, each probe z-scored across scenarios
            (a probe's own baseline would otherwise decide every argmax).
        accuracy: Per site, the share of scenarios whose own emotion has the top z-score.
        chance: 1 / number of emotions.
    """

    scenarios: tuple[Scenario, ...]
    emotions: tuple[str, ...]
    sites: tuple[Site, ...]
    matrix: Float[Tensor, "site batch emotion"]
    accuracy: list[float]
    chance: float
    read_at: str
    skipped: tuple[str, ...] = ()

    @property
    def best_site(self) -> Site:
        return self.sites[max(range(len(self.sites)), key=lambda j: self.accuracy[j])]

    def as_dict(self) -> dict[str, Any]:
        return {
            "read_at": self.read_at,
            "emotions": list(self.emotions),
            "prompts": [s.prompt for s in self.scenarios],
            "labels": [s.emotion for s in self.scenarios],
            "sites": [str(s) for s in self.sites],
            "accuracy": self.accuracy,
            "chance": self.chance,
            "best_site": str(self.best_site),
            "skipped": list(self.skipped),
        }


def implicit_scenarios(
    backend: Any,
    vectors: EmotionVectors,
    scenarios: "Sequence[Scenario] | None" = None,
    *,
    read_at: ReadAt = "assistant",
    batch_size: int = 16,
    allow_mismatch: bool = False,
) -> ScenarioReport:
    """Read the scenario emotions' probes on each scenario; the diagonal should dominate.

    Args:
        backend: The model the vectors came from.
        vectors: The bundle.
        scenarios: Scenarios (default: `load_scenarios()`); those whose emotion the bundle
            lacks are skipped and listed.
        read_at: Where to read the probes (see `read_probes`).
        batch_size: Prompts per forward pass.
        allow_mismatch: Passed to `vectors.check` (deliberate cross-model use).

    Returns:
        A `ScenarioReport`.

    Raises:
        ValueError: Fewer than 2 scenario emotions are in the bundle.
    """
    scenarios = load_scenarios() if scenarios is None else list(scenarios)
    index = {e: i for i, e in enumerate(vectors.emotions)}
    kept = tuple(s for s in scenarios if s.emotion in index)
    skipped = tuple(sorted({s.emotion for s in scenarios if s.emotion not in index}))
    emotions = tuple(dict.fromkeys(s.emotion for s in kept))
    if len(emotions) < 2:
        raise ValueError(
            f"Implicit scenarios need at least 2 of their emotions in the bundle; it has"
            f" {list(emotions)} (missing {list(skipped)})."
        )
    readings = read_probes(
        backend,
        vectors,
        [s.prompt for s in kept],
        read_at=read_at,
        batch_size=batch_size,
        allow_mismatch=allow_mismatch,
    )
    cols = torch.tensor([index[e] for e in emotions])
    x = readings[:, :, cols].permute(1, 0, 2)  # [site, scenario, emotion]
    z = (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True).clamp(min=1e-12)
    labels = torch.tensor([emotions.index(s.emotion) for s in kept])
    accuracy = [float((z[j].argmax(1) == labels).double().mean()) for j in range(z.shape[0])]
    return ScenarioReport(
        kept, emotions, vectors.sites, z.float(), accuracy, 1.0 / len(emotions), read_at, skipped
    )


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


def plot_scenarios(result: ScenarioReport, site: "Site | str | int | None" = None) -> Any:
    """Heatmap of z-scored probes (columns) on scenarios (rows) at `site` (default: best)."""
    from matplotlib.figure import Figure

    site = result.best_site if site is None else Site.parse(site)
    j = result.sites.index(site)
    n, m = len(result.scenarios), len(result.emotions)
    fig = Figure(figsize=(max(5.0, 0.45 * m + 4), max(4.0, 0.28 * n + 1.5)), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(result.matrix[j].numpy(), cmap="RdBu_r", vmin=-2.5, vmax=2.5, aspect="auto")
    ax.set_xticks(range(m), result.emotions, rotation=60, fontsize=7)
    ax.set_yticks(range(n), [f"{s.emotion}: {s.prompt[:38]}" for s in result.scenarios], fontsize=6)
    fig.colorbar(image, ax=ax, label="probe z-score across scenarios")
    ax.set_title(
        f"implicit scenarios at {site}: own emotion on top {result.accuracy[j]:.0%}"
        f" (chance {result.chance:.0%})",
        fontsize=9,
    )
    return fig

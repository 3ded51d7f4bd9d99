"""`Monitor`: probe readings on every token while a model generates, with alerts and actions.

The monitor is an observer of the generation seam (`backend.generate(..., observers=[m])`): it
reads the activations that the generation computes anyway (no second forward pass), projects
them onto the chosen emotion vectors (one matmul per site per step), turns them into z-scores
against a calibration, runs the alert rules token by token, carries out the rules' actions
(stop rows, add edits for the rest of the generation) and streams one event per token to its
listeners (see `emovec.monitor.events` for the schema).
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from emovec._backend import Control, Generation, StepView
from emovec._site import Site
from emovec.vectors import EmotionVectors

from ._actions import ActionContext, Alert, Outcome
from ._calibration import Calibration
from ._events import SCHEMA
from ._layout import Frame, Layout
from ._probes import Probes
from ._probes import default_site as default_site
from ._rules import Rule, RuleSet

Listener = Callable[[dict[str, Any]], Any]


class Monitor:
    """Watch emotion probes on every token of a generation; alert, stop or intervene.

    Args:
        vectors: An `EmotionVectors` bundle (`EmotionVectors.load(path)`).
        emotions: Emotions to read (default: every emotion in the bundle; 171 probes at one site
            cost one `[tokens, d_model] x [d_model, 171]` matmul per step).
        sites: Sites to read (default: `default_site(vectors)`); the first is where rules and
            actions look unless they name another.
        calibration: A `Calibration` (or its path): readings also as z-scores; rules may then
            use `scale="z"`.
        rules: `Rule`s (see `emovec.monitor.rules`), evaluated token by token on every row.
        on_event: A function or functions called with each event dict, in order.
        handlers: Functions for `Call` actions named in rule files.
        tokenizer: Decodes each token's text into events (optional).
        min_position: Rules ignore positions before it (position 0 is an attention sink).
        keep_events: Also keep every event in `self.events`.

    Example:
        >>> ev = EmotionVectors(torch.eye(4)[:2, None], ("calm", "afraid"), (Site(0),))
        >>> m = Monitor(ev)
        >>> view = StepView(0, torch.tensor([[5, 6]]), torch.ones(1, 2, dtype=torch.bool),
        ...                 torch.tensor([[0, 1]]), {Site(0): torch.tensor([[[1., 2, 0, 0], [3, 4, 0, 0]]])})
        >>> m.observe(view) is None, m.readings(0)[:, 0].tolist()
        (True, [[1.0, 2.0], [3.0, 4.0]])
    """

    def __init__(
        self,
        vectors: EmotionVectors,
        *,
        emotions: Sequence[str] | None = None,
        sites: "Sequence[Site | str | int] | None" = None,
        calibration: "Calibration | str | None" = None,
        rules: Sequence[Rule] = (),
        on_event: "Listener | Sequence[Listener] | None" = None,
        handlers: Mapping[str, Callable[[Alert], Any]] | None = None,
        tokenizer: Any = None,
        min_position: int = 1,
        keep_events: bool = False,
    ):
        if not isinstance(vectors, EmotionVectors):
            raise TypeError(
                f"Monitor needs an EmotionVectors bundle, got {type(vectors).__name__}: load one"
                " with EmotionVectors.load(path)."
            )
        self.vectors = vectors
        self.emotions = tuple(vectors.emotions if emotions is None else emotions)
        if not self.emotions:
            raise ValueError("Monitor needs at least one emotion to read.")
        for e in self.emotions:
            vectors.index(e)
        self.sites: list[Site] = (
            [default_site(vectors)] if sites is None else [Site.parse(s) for s in sites]
        )
        if not self.sites or len(set(self.sites)) != len(self.sites):
            raise ValueError("Monitor sites must be non-empty and distinct.")
        for s in self.sites:
            vectors.site_index(s)
        self.probes = Probes(vectors, self.emotions, self.sites)
        if isinstance(calibration, (str, bytes)) or hasattr(calibration, "__fspath__"):
            calibration = Calibration.load(calibration)  # type: ignore[arg-type]
        self.calibration: Calibration | None = None
        if calibration is not None:
            calibration.check(vectors)
            self.calibration = calibration.select(self.emotions, self.sites)
            self._mean = self.calibration.mean.numpy().astype(np.float32)
            self._std = self.calibration.std.numpy().astype(np.float32)
        self.rules = list(rules)
        self.layout = Layout(self.emotions, tuple(self.sites), self.calibration is not None)
        self.ruleset = RuleSet(self.rules, self.layout)
        self.context = ActionContext(vectors, self.sites[0], dict(handlers or {}))
        for rule in self.rules:
            rule.action.check(self.context, rule.when.watched(), rule.name)
        if on_event is None:
            self.listeners: list[Listener] = []
        elif callable(on_event):
            self.listeners = [on_event]
        else:
            self.listeners = list(on_event)
        self.tokenizer = tokenizer
        self.min_position = int(min_position)
        self.keep_events = keep_events
        self.events: list[dict[str, Any]] = []
        self.generation = -1
        self._reset(0)

    # -- state --------------------------------------------------------------------------------
    def _reset(self, rows: int) -> None:
        self.rows = rows
        self._chunks: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [
            [] for _ in range(rows)
        ]
        self.alerts: list[Alert] = []
        self.actions: list[dict[str, Any]] = []
        self.context.active.clear()
        self.ruleset.reset(rows)

    def _emit(self, event: dict[str, Any]) -> None:
        if self.keep_events:
            self.events.append(event)
        for listener in self.listeners:
            listener(event)

    def header(self) -> dict[str, Any]:
        """The header event: what the readings mean (emitted at the start of each generation)."""
        return {
            "type": "header",
            "schema": SCHEMA,
            "generation": self.generation,
            "model_id": self.vectors.model_id,
            "emotions": list(self.emotions),
            "sites": [str(s) for s in self.sites],
            "calibrated": self.calibration is not None,
            "min_position": self.min_position,
            "rules": [r.to_dict() for r in self.rules],
        }

    # -- the observer protocol ----------------------------------------------------------------
    def observe(self, view: StepView) -> Control | None:
        """Read one forward's tokens; return a `Control` when an action stops rows or edits."""
        if view.step == 0:
            self.generation += 1
            self._reset(int(view.input_ids.shape[0]))
            if self.listeners or self.keep_events:
                self._emit(self.header())
        raw_t = self.probes.read(view.activations)
        raw = raw_t.detach().float().cpu().numpy()
        z = (raw - self._mean) / self._std if self.calibration is not None else None
        mask = view.mask.cpu().numpy()
        positions = view.positions.cpu().numpy()
        ids = view.input_ids.cpu().numpy()
        for r in range(self.rows):
            keep = mask[r]
            if keep.any():
                self._chunks[r].append((ids[r][keep], positions[r][keep], raw[r][keep]))
        phase = "prompt" if view.step == 0 else "generated"
        outcomes: list[Outcome] = []
        per_token: dict[tuple[int, int], tuple[list, list]] = {}
        if self.rules:
            for j in range(raw.shape[1]):
                valid = mask[:, j] & (positions[:, j] >= self.min_position)
                frame = Frame(raw[:, j], None if z is None else z[:, j], valid)
                fired = self.ruleset.step(frame, phase)
                for i, rows in enumerate(fired):
                    for r in np.flatnonzero(rows):
                        alert = self._alert(i, int(r), view.step, j, frame, positions, ids, phase)
                        outcome = self.rules[i].action.run(alert, self.context)
                        self.alerts.append(alert)
                        self.actions.append(outcome.record)
                        outcomes.append(outcome)
                        slot = per_token.setdefault((int(r), j), ([], []))
                        slot[0].append(alert.to_dict())
                        slot[1].append(outcome.record)
        if self.listeners or self.keep_events:
            self._token_events(view.step, phase, raw, z, mask, positions, ids, per_token)
        return _merge(outcomes)

    def _alert(
        self, i: int, r: int, step: int, j: int, frame: Frame, positions: Any, ids: Any, phase: str
    ) -> Alert:
        rule = self.rules[i]
        watched = rule.when.watched()
        source = frame.z if frame.z is not None else frame.raw
        values = {e: float(source[r, 0, self.emotions.index(e)]) for e in watched}
        return Alert(
            rule.name, r, step, int(positions[r, j]), int(ids[r, j]), phase, watched, values
        )

    def _token_events(
        self,
        step: int,
        phase: str,
        raw: np.ndarray,
        z: np.ndarray | None,
        mask: np.ndarray,
        positions: np.ndarray,
        ids: np.ndarray,
        per_token: dict[tuple[int, int], tuple[list, list]],
    ) -> None:
        names = [str(s) for s in self.sites]
        raw5 = np.round(raw.astype(np.float64), 5)
        z5 = None if z is None else np.round(z.astype(np.float64), 5)
        for j in range(raw.shape[1]):
            for r in range(raw.shape[0]):
                if not mask[r, j]:
                    continue
                token_id = int(ids[r, j])
                alerts, actions = per_token.get((r, j), ([], []))
                self._emit(
                    {
                        "type": "token",
                        "generation": self.generation,
                        "row": r,
                        "step": step,
                        "position": int(positions[r, j]),
                        "phase": phase,
                        "token_id": token_id,
                        "token": self._decode(token_id),
                        "readings": _table(names, self.emotions, raw5[r, j]),
                        "z": None if z5 is None else _table(names, self.emotions, z5[r, j]),
                        "alerts": alerts,
                        "actions": actions,
                    }
                )

    def _decode(self, token_id: int) -> str | None:
        if self.tokenizer is None:
            return None
        return self.tokenizer.decode([token_id])

    def finish(self, generation: Generation) -> dict[str, Any]:
        """Emit (and return) the end event of a generation: per row, why it stopped and its text."""
        event = {
            "type": "end",
            "generation": self.generation,
            "rows": [
                {
                    "row": r,
                    "stopped": generation.stopped[r] if r < len(generation.stopped) else None,
                    "text": generation.texts[r],
                    "n_generated": len(generation.token_ids[r]),
                    "alerts": sum(1 for a in self.alerts if a.row == r),
                }
                for r in range(len(generation.texts))
            ],
            "edits_added": [
                {"step": step, "site": str(edit.site)} for step, edit in generation.edits_added
            ],
        }
        if self.listeners or self.keep_events:
            self._emit(event)
        return event

    # -- results ------------------------------------------------------------------------------
    def _row(self, row: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        if not 0 <= row < self.rows:
            raise IndexError(f"Row {row} is outside the last generation's {self.rows} rows.")
        return self._chunks[row]

    def readings(
        self, row: int = 0, *, from_position: int = 0
    ) -> Float[Tensor, "pos site emotion"]:
        """Raw readings of one row's tokens (prompt then generated) in the last generation."""
        chunks = self._row(row)
        if not chunks:
            return torch.zeros(0, len(self.sites), len(self.emotions))
        raw = np.concatenate([c[2] for c in chunks])
        pos = np.concatenate([c[1] for c in chunks])
        return torch.from_numpy(raw[pos >= from_position])

    def zscores(self, row: int = 0, *, from_position: int = 0) -> Float[Tensor, "pos site emotion"]:
        """`readings` as z-scores (needs a calibration)."""
        if self.calibration is None:
            raise ValueError("z-scores need a calibration: pass calibration=... to the Monitor.")
        return self.calibration.z(self.readings(row, from_position=from_position).double()).float()

    def token_ids(self, row: int = 0) -> list[int]:
        """The tokens read for one row, in order (prompt, then generated)."""
        return [int(t) for c in self._row(row) for t in c[0]]

    def positions(self, row: int = 0) -> list[int]:
        return [int(p) for c in self._row(row) for p in c[1]]


def _table(names: list[str], emotions: tuple[str, ...], values: np.ndarray) -> dict[str, Any]:
    return {
        name: dict(zip(emotions, values[s].tolist(), strict=True)) for s, name in enumerate(names)
    }


def _merge(outcomes: list[Outcome]) -> Control | None:
    stop_all = any(o.stop_all for o in outcomes)
    rows = sorted({r for o in outcomes for r in o.stop_rows})
    edits = [e for o in outcomes for e in o.edits]
    if not (stop_all or rows or edits):
        return None
    return Control(stop=True if stop_all else rows, add_edits=edits)

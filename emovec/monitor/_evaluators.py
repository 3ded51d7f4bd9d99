"""Compiled conditions: per-row state machines that answer, one token per row, "does it hold?".

`Condition.compile(layout)` builds these; a token that is not real for a row (`Frame.valid`)
never changes the row's state and never satisfies a condition.
"""

from typing import Any, Protocol, runtime_checkable

import numpy as np

from ._layout import Frame


@runtime_checkable
class ThresholdSpec(Protocol):
    """What a threshold evaluator reads of its condition (`Threshold` in `_conditions`)."""

    @property
    def scale(self) -> str: ...
    @property
    def above(self) -> float | None: ...
    @property
    def below(self) -> float | None: ...


@runtime_checkable
class RisingSpec(Protocol):
    """What a rising-slope evaluator reads of its condition (`Rising` in `_conditions`)."""

    @property
    def scale(self) -> str: ...
    @property
    def window(self) -> int: ...
    @property
    def slope(self) -> float: ...


class Evaluator:
    """Per-row state of a compiled condition; `step` answers for one token per row."""

    def reset(self, rows: int) -> None:
        raise NotImplementedError

    def step(self, frame: Frame) -> np.ndarray:
        raise NotImplementedError


def _values(frame: Frame, scale: str, s: int, e: int) -> np.ndarray:
    source = frame.z if scale == "z" else frame.raw
    assert source is not None  # compile() refused z rules without calibration
    return source[:, s, e]


class _ThresholdEval(Evaluator):
    def __init__(self, spec: ThresholdSpec, s: int, e: int):
        self.spec, self.s, self.e = spec, s, e

    def reset(self, rows: int) -> None:
        pass

    def step(self, frame: Frame) -> np.ndarray:
        v = _values(frame, self.spec.scale, self.s, self.e)
        hit = v > self.spec.above if self.spec.above is not None else v < self.spec.below
        return frame.valid & hit


class _RisingEval(Evaluator):
    def __init__(self, spec: RisingSpec, s: int, e: int):
        self.spec, self.s, self.e = spec, s, e
        x = np.arange(spec.window, dtype=np.float64)
        centred = x - x.mean()
        self.weights = centred / (centred**2).sum()  # slope = weights . y (least squares)

    def reset(self, rows: int) -> None:
        self.buf = np.zeros((rows, self.spec.window))
        self.count = np.zeros(rows, dtype=np.int64)

    def step(self, frame: Frame) -> np.ndarray:
        v = _values(frame, self.spec.scale, self.s, self.e)
        valid = frame.valid
        shifted = np.concatenate([self.buf[:, 1:], v[:, None]], axis=1)
        self.buf = np.where(valid[:, None], shifted, self.buf)
        self.count = self.count + valid
        slope = self.buf @ self.weights
        return valid & (self.count >= self.spec.window) & (slope >= self.spec.slope)


class _SustainedEval(Evaluator):
    def __init__(self, inner: Evaluator, tokens: int):
        self.inner, self.tokens = inner, tokens

    def reset(self, rows: int) -> None:
        self.inner.reset(rows)
        self.run = np.zeros(rows, dtype=np.int64)

    def step(self, frame: Frame) -> np.ndarray:
        hit = self.inner.step(frame)
        self.run = np.where(frame.valid, np.where(hit, self.run + 1, 0), self.run)
        return frame.valid & (self.run >= self.tokens)


class _CombineEval(Evaluator):
    def __init__(self, parts: list[Evaluator], op: Any):
        self.parts, self.op = parts, op

    def reset(self, rows: int) -> None:
        for p in self.parts:
            p.reset(rows)

    def step(self, frame: Frame) -> np.ndarray:
        # Every part steps on every token (stateful parts must see the whole stream).
        results = [p.step(frame) for p in self.parts]
        out = results[0]
        for r in results[1:]:
            out = self.op(out, r)
        return frame.valid & out


class _NotEval(Evaluator):
    def __init__(self, inner: Evaluator):
        self.inner = inner

    def reset(self, rows: int) -> None:
        self.inner.reset(rows)

    def step(self, frame: Frame) -> np.ndarray:
        return frame.valid & ~self.inner.step(frame)


class _ThenEval(Evaluator):
    def __init__(self, first: Evaluator, second: Evaluator):
        self.first, self.second = first, second

    def reset(self, rows: int) -> None:
        self.first.reset(rows)
        self.second.reset(rows)
        self.seen = np.zeros(rows, dtype=bool)

    def step(self, frame: Frame) -> np.ndarray:
        earlier = self.seen.copy()
        self.seen |= self.first.step(frame)
        return frame.valid & earlier & self.second.step(frame)

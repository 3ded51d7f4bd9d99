"""Figures for the intervention results (matplotlib, Agg), saved as PNG and SVG atomically."""

import io
import math
from pathlib import Path
from typing import Any

from emovec._files import write_atomic, write_json


def figure(
    n_panels: int, *, width: float = 4.2, height: float = 3.4, rows: int = 1
) -> tuple[Any, list[Any]]:
    """A figure with `n_panels` axes laid out on `rows` rows (matplotlib imported lazily)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = math.ceil(n_panels / rows)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels]


def save_figure(fig: Any, stem: "str | Path") -> list[Path]:
    """Write `stem.png` and `stem.svg`; close the figure; return the paths."""
    import matplotlib.pyplot as plt

    stem = Path(stem)
    paths = []
    try:
        fig.tight_layout()
        for ext in ("png", "svg"):
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, dpi=130)
            paths.append(write_atomic(stem.with_suffix(f".{ext}"), buf.getvalue()))
    finally:
        plt.close(fig)
    return paths


def save_json(data: Any, path: "str | Path") -> Path:
    """Write `data` as indented JSON (NaN refused: results must be plain numbers)."""
    return write_json(path, data, allow_nan=False)


def plain(data: Any) -> Any:
    """`data` with tuples as lists and non-finite floats as None (JSON has no NaN).

    Example:
        >>> plain({"a": (1.0, float("nan"))})
        {'a': [1.0, None]}
    """
    if isinstance(data, dict):
        return {str(k): plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [plain(v) for v in data]
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    return data

"""What `emovec steer` reads from its arguments: the checked bundle and backend, number and
name lists."""

import argparse
from typing import Any

from ._options import check_names, existing_bundle


def _load(args: argparse.Namespace, names: Any = ()) -> tuple[Any, Any]:
    """Bundle and backend, checked against each other before anything runs."""
    import emovec
    from emovec.vectors import EmotionVectors

    path = existing_bundle(args.vectors, "--vectors")
    if path.is_dir() and (path / "emotion_vectors.safetensors").exists():
        path = path / "emotion_vectors.safetensors"  # what `emovec extract --out DIR` writes
    if path.is_dir():
        found = sorted(path.glob("*.safetensors"))
        found = [p for p in found if not p.name.endswith(".checkpoint.safetensors")]
        if len(found) != 1:
            raise ValueError(f"{path} holds {len(found)} bundles: name the .safetensors file.")
        path = found[0]
    vectors = EmotionVectors.load(path)
    try:  # names first: a typo should not cost a model load
        for name in names:
            vectors.index(name)
        check_names(vectors, sites=getattr(args, "sites", None))
    except KeyError as err:
        raise _unknown_name(err) from None
    backend = emovec.load_backend(args.model, adapter=args.adapter, dtype=args.dtype)
    vectors.check(backend, allow_mismatch=args.allow_mismatch)
    return vectors, backend


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(
            f"Cannot read {what} {text!r}: write comma-separated numbers like 0.05,0.1."
        ) from None


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [x.strip() for x in text.split(",") if x.strip()]


def _sites_arg(args: argparse.Namespace) -> Any:
    return args.sites  # None: the bundle's default site


def _unknown_name(err: KeyError) -> Exception:
    from ._errors import NAME_HINT, CliError

    return CliError(f"{err} {NAME_HINT}")

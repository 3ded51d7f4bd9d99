"""Options every model-facing subcommand shares, spelled the same everywhere."""

import argparse
import tomllib
from pathlib import Path
from typing import Any

from emovec._dtype import CHOICES
from emovec.models import DEFAULT_MODEL


def add_model_options(parser: argparse.ArgumentParser, *, sites: str | None = "all") -> None:
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"shipped name, folder or hub id (default {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--adapter", default="hf", help="hf, transformer_lens or nnsight (default hf)"
    )
    if sites is not None:
        parser.add_argument(
            "--sites", default=sites, help=f"'all', '4:20', '3,8,resid_pre.5' (default {sites})"
        )
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=CHOICES,
        help="type of the forward: auto (bfloat16 on a GPU or a CPU with native bfloat16, else"
        " float32), float32, bfloat16 or float16 (default auto)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--config", type=Path, help="TOML file whose keys set this command's options"
    )


def add_out_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path(default), help=f"output folder (default {default})"
    )


def apply_config(args: argparse.Namespace, parser_defaults: dict[str, Any]) -> argparse.Namespace:
    """Fill options the user left at their defaults from `--config FILE.toml`."""
    path = getattr(args, "config", None)
    if path is None:
        return args
    try:
        values = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ValueError(f"Cannot read config {path}: {err}") from None
    section = values.get(args.command, values)
    for key, value in section.items():
        attr = key.replace("-", "_")
        if not hasattr(args, attr):
            raise ValueError(f"{path}: unknown option {key!r} for `emovec {args.command}`.")
        if getattr(args, attr) == parser_defaults.get(attr):
            setattr(args, attr, value)
    return args

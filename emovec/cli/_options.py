"""Options every model-facing subcommand shares, spelled the same everywhere."""

import argparse
import tempfile
import tomllib
from collections.abc import Sequence
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


def config_tokens(
    path: Path, leaf: argparse.ArgumentParser, command: str, given: Sequence[str]
) -> list[str]:
    """Command-line tokens for the options a `--config` TOML file sets.

    Format: top-level keys are this command's options (spelled as on the command line, with
    or without dashes); an optional table named after a top-level command (`[score]`) holds
    options for that command only, so one file can serve several; other tables are errors.
    Each value goes through the option's own type and choices, so a wrong value fails here,
    before any model loads, naming the file and the option. Options given on the command line
    win (the tokens go before them).
    """
    from ._errors import UsageError

    try:
        values = tomllib.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        reason = getattr(err, "strerror", None) or err
        raise UsageError(f"Cannot read config {path}: {reason}; pass a UTF-8 TOML file.") from None
    from ._errors import COMMAND_NAMES

    items = {k: v for k, v in values.items() if not isinstance(v, dict)}
    for name, table in values.items():
        if isinstance(table, dict) and name not in COMMAND_NAMES:
            raise UsageError(
                f"{path}: table [{name}] is not an emovec command; tables are named after"
                f" commands ({', '.join(COMMAND_NAMES)})."
            )
    items.update(values.get(command, {}) if isinstance(values.get(command), dict) else {})
    options = {a.dest: a for a in leaf._actions if a.option_strings and a.dest not in _NOT_SET}
    tokens: list[str] = []
    for key, value in items.items():
        action = options.get(key.lstrip("-").replace("-", "_"))
        if action is None:
            raise UsageError(
                f"{path}: unknown option {key!r} for `emovec {leaf.prog.split(' ', 1)[-1]}`;"
                " see its --help for the option names."
            )
        tokens += _tokens_for(path, leaf, action, key, value, given)
    return tokens


_NOT_SET = ("help", "config", "version")


def _tokens_for(
    path: Path,
    leaf: argparse.ArgumentParser,
    action: argparse.Action,
    key: str,
    value: Any,
    given: Sequence[str],
) -> list[str]:
    from ._errors import UsageError

    flag = action.option_strings[-1]
    if action.nargs == 0:  # store_true / store_false
        if not isinstance(value, bool):
            raise UsageError(f"{path}: {key} = {value!r}: must be true or false.")
        return [flag] if value != action.default else []
    repeated = isinstance(action, argparse._AppendAction)
    if repeated and any(t.split("=")[0] in action.option_strings for t in given):
        return []  # the command line's own values replace the config's list
    many = value if repeated and isinstance(value, list) else [value]
    tokens: list[str] = []
    for item in many:
        if isinstance(item, bool | list | dict) or not isinstance(item, str | int | float):
            want = "a list of values" if repeated else "a single value"
            raise UsageError(f"{path}: {key} = {value!r}: must be {want} (a string or number).")
        try:
            leaf._get_values(action, [str(item)])
        except argparse.ArgumentError as err:
            raise UsageError(f"{path}: {key} = {item!r}: {err.message}; fix the value.") from None
        tokens += [flag, str(item)]
    return tokens


def check_out(out: Path) -> None:
    """Refuse, before anything runs, an `--out` that cannot be written: a file where a folder
    is wanted (or the reverse), or a place where nothing can be created."""
    from ._errors import CliError

    is_file = out.suffix in FILE_OUTPUTS
    if out.exists() and not is_file and not out.is_dir():
        raise CliError(f"--out {out} is a file, not a folder: pass a folder path.")
    if out.exists() and is_file and out.is_dir():
        raise CliError(f"--out {out} is a folder: pass a file path ending in {out.suffix}.")
    ancestor = out.parent if is_file else out
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise CliError(
            f"--out {out}: {ancestor} is a file, so no folder can be made there; pass another path."
        )
    try:
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as err:
        raise CliError(
            f"--out {out}: cannot write in {ancestor} ({err.strerror}); pass a folder you can"
            " write to."
        ) from None


FILE_OUTPUTS = (".safetensors", ".json")


def check_names(
    vectors: Any, *, emotions: Sequence[str] | None = None, sites: str | None = None
) -> None:
    """Before any model loads: every named emotion is in the bundle, and every site of the
    spec is one the bundle holds (read against the bundle's layer count). An unknown name
    raises `UnknownNameError`, whose message lists close matches."""
    for name in emotions or ():
        vectors.index(name)
    if sites is None or vectors.n_layers is None:
        return
    from emovec import parse_sites

    parsed = parse_sites(sites, vectors.n_layers)
    if not parsed:
        raise ValueError(f"--sites {sites!r} names no site: write e.g. '4:20' or '12'.")
    for site in parsed:
        vectors.site_index(site)


def read_text_arg(path: Path, option: str) -> str:
    """The text of a file named by `option`, with one-line errors for the usual mistakes."""
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder: pass a text file.")
    if not path.is_file():
        raise ValueError(f"{option} {path} does not exist: pass an existing text file.")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{option} {path} is not UTF-8 ({err.reason} at byte {err.start}): save it as UTF-8."
        ) from None


def existing_bundle(path: Path, option: str) -> Path:
    """`path` if a bundle file or folder is there; else a one-line error naming the fix."""
    if not path.exists():
        raise ValueError(
            f"{option} {path} does not exist: pass a bundle made by `emovec extract` (a"
            " .safetensors file or its folder)."
        )
    return path


def bundle_path(out: Path) -> Path:
    """`--out` names a folder (the bundle goes inside) or a `.safetensors` file."""
    return out if out.suffix == ".safetensors" else out / "emotion_vectors.safetensors"

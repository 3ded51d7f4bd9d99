"""The `emovec` command line: one tool, one subcommand per workflow.

Each subcommand lives in its own module exposing `register(subparsers)`; the module list below
is the whole CLI. Exit codes: 0 success; 2 usage (a malformed command line or `--config` file:
unknown options, wrong types or choices); 1 any other failure (a missing or malformed input, a
name the bundle lacks, an `--out` that cannot be written, a failure while running). Failures print
one line naming the problem and the fix; `--debug` shows the traceback instead. Checks of
arguments, inputs and `--out` run before any model loads.
"""

import argparse
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from ._errors import COMMAND_NAMES as COMMAND_NAMES
from ._errors import NAME_HINT as NAME_HINT
from ._errors import USER_ERRORS as USER_ERRORS
from ._errors import CliError as CliError
from ._errors import UsageError as UsageError

# Modules that each add one subcommand (in the order `emovec --help` lists them).
COMMANDS = (
    "_replicate",
    "_models",
    "_corpus",
    "_extract",
    "_report",
    "_steer",
    "_monitor",
    "_score",
    "_demo",
    "_crossmodel",
)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage stays in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`.\n")


def build_parser() -> argparse.ArgumentParser:
    from emovec import __version__

    parser = _Parser(
        prog="emovec",
        description="Find, validate, monitor and causally test emotion directions in language models.",
    )
    parser.add_argument("--version", action="version", version=f"emovec {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"emovec.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        args = _with_config(parser, args, argv)
        if isinstance(getattr(args, "out", None), Path):
            from ._options import check_out

            check_out(args.out)
        quiet = bool(getattr(args, "quiet", False) or getattr(args, "no_progress", False))
        with _quiet_loading(quiet):
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("emovec: interrupted", file=sys.stderr)
        return 1
    except (*USER_ERRORS, KeyError) as err:
        if args.debug or (isinstance(err, KeyError) and not _user_key_error(err)):
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        if isinstance(err, KeyError):  # an unknown emotion or site of a bundle
            message += f" {NAME_HINT}"
        print(f"emovec {args.command}: error: {message}", file=sys.stderr)
        return 2 if isinstance(err, UsageError) else 1


def _user_key_error(err: KeyError) -> bool:
    """An unknown emotion or site name (a KeyError subclass whose message names the fix)."""
    bundle = sys.modules.get("emovec.vectors._bundle")
    return bundle is not None and isinstance(err, bundle.UnknownNameError)


def _leaf(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[Any, list[str]]:
    """The (sub)subparser that parsed `args`, and the chain of command names leading to it."""
    leaf, chain = parser, []
    while True:
        subs = [a for a in leaf._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(args, subs[0].dest, None) if subs else None
        if name is None:
            return leaf, chain
        leaf, chain = subs[0].choices[name], [*chain, name]


def _with_config(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]
) -> argparse.Namespace:
    """Re-parse with the `--config` file's options inserted after the command names."""
    if getattr(args, "config", None) is None:
        return args
    from ._options import config_tokens

    leaf, chain = _leaf(parser, args)
    at = 0
    for name in chain:
        at = argv.index(name, at) + 1
    tokens = config_tokens(args.config, leaf, chain[0], argv[at:])
    return parser.parse_args([*argv[:at], *tokens, *argv[at:]])


@contextmanager
def _quiet_loading(quiet: bool) -> Iterator[None]:
    """With --quiet, no loading bars from transformers or the hub either (restored after)."""
    if not quiet:
        yield
        return
    key = "HF_HUB_DISABLE_PROGRESS_BARS"
    old = os.environ.get(key)
    os.environ[key] = "1"
    logging = sys.modules.get("transformers.utils.logging")
    was_on = logging is not None and logging.is_progress_bar_enabled()
    if was_on:
        logging.disable_progress_bar()
    try:
        yield
    finally:
        logging = sys.modules.get("transformers.utils.logging")
        if logging is not None and (was_on or old is None):
            logging.enable_progress_bar()
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old

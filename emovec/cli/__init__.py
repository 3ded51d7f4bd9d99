"""The `emovec` command line: one tool, one subcommand per workflow.

Each subcommand lives in its own module exposing `register(subparsers)`; the module list below
is the whole CLI. Exit codes: 0 success, 1 failure (one clear line unless --debug), 2 usage.
"""

import argparse
import importlib
import sys
from collections.abc import Sequence

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


class CliError(Exception):
    """A failure the user can act on: printed as one line, exit code 1."""


def build_parser() -> argparse.ArgumentParser:
    from emovec import __version__

    parser = argparse.ArgumentParser(
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
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("emovec: interrupted", file=sys.stderr)
        return 1
    except (CliError, ValueError, TypeError, RuntimeError, OSError, ImportError) as err:
        if args.debug:
            raise
        print(f"emovec {args.command}: error: {err}", file=sys.stderr)
        return 1

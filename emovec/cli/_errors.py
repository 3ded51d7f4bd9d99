"""The command line's error vocabulary: what is printed as one line, and with which exit code."""

# Top-level command names (a `--config` table may be named after one of them).
COMMAND_NAMES = (
    "replicate",
    "models",
    "corpus",
    "extract",
    "vectors",
    "report",
    "steer",
    "monitor",
    "score",
    "demo",
    "compare-models",
)


class CliError(Exception):
    """A failure the user can act on: printed as one line, exit code 1."""


class UsageError(CliError):
    """A malformed command line or config file: printed as one line, exit code 2."""


NAME_HINT = "Pass a name the bundle holds (`emovec vectors info BUNDLE` lists them)."

# Error classes whose message is written for the user (the rest are bugs: traceback).
USER_ERRORS = (CliError, ValueError, TypeError, RuntimeError, OSError, ImportError)

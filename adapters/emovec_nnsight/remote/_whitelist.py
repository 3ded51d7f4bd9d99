"""What NDIF's server accepts in a remote block: the facts, kept in this one place.

Everything that decides whether a block may be sent (the static scan in `_preflight`, the
isolated sandbox in `_server`, the error messages) reads these constants; the sandbox
receives them as JSON because it must not import emovec.

Facts version 2026-11-28, from:
  * /work/shared/reference/frameworks.md, section "Remote tracing on NDIF (`remote=True`)"
    (the server's import whitelist, the blocked modules, blocked dunder attributes,
    cloudpickle serialisation of the block's source and referenced variables, the model as
    a deployed id, "Module abc is not whitelisted", `nnsight.compare()`);
  * nnsight 0.8.1's client source (`intervention/serialization.py`, `schema/request.py`,
    `intervention/backends/remote.py`, `ndif.py`): what a request carries and which
    pickle globals a well-formed block needs (`UNPICKLE_INTERNALS`).
Not verified against the live server (NDIF cannot be reached from the build machines).
Where the facts are silent the check is stricter than we believe the server is, never
looser: see `CONSERVATIVE`.
"""

FACTS_VERSION = "2026-11-28"
FACTS_SOURCE = (
    "shared/reference/frameworks.md (remote section) + nnsight 0.8.1 client source;"
    " not verified against the live NDIF server"
)
NNSIGHT_CLIENT_VERSION = "0.8.1"  # the version these facts were read from

# Top-level modules a remote block may import, and whose globals may appear in its pickle.
# "parts of nnsight": which parts is not documented, so all of nnsight passes (a known gap).
ALLOWED_MODULES: frozenset[str] = frozenset(
    {
        "torch",
        "numpy",
        "collections",
        "math",
        "time",
        "typing",
        "einops",
        "sympy",
        "pandas",
        "enum",
        "operator",
        "nnterp",
        "nnsight",
    }
)

# Documented as refused (anything not in ALLOWED_MODULES is refused too). Preflight messages
# say "documented as refused" for these, because people reach for them.
KNOWN_BLOCKED_MODULES: tuple[str, ...] = (
    "abc",
    "dataclasses",
    "functools",
    "itertools",
    "json",
    "re",
    "random",
    "os",
    "sys",
)

# Our own packages: never importable on the server (not installed there).
EMOVEC_ROOTS: tuple[str, ...] = ("emovec", "emovec_nnsight", "emovec_hf", "emovec_transformer_lens")

# Blocked attributes: dunder names (`__dict__`, `__class__`, `__globals__`...). Kept as data
# so the sandbox applies exactly this rule: at least DUNDER_MIN_LENGTH characters, starting
# and ending with DUNDER (`____` and `__` are not dunders).
DUNDER = "__"
DUNDER_MIN_LENGTH = 5

# Builtins a block may not call. CONSERVATIVE: the facts do not list them, but each one
# reaches around the import whitelist or the attribute block, so we refuse them.
BLOCKED_BUILTINS: frozenset[str] = frozenset(
    {"eval", "exec", "compile", "open", "__import__", "globals", "vars", "breakpoint", "input"}
)

# Builtins that take an attribute name: a dunder name given as a string is refused too.
ATTRIBUTE_BUILTINS: frozenset[str] = frozenset({"getattr", "setattr", "delattr", "hasattr"})

# Pickle globals outside ALLOWED_MODULES that nnsight itself writes into every request (its
# by-source function reducer, cloudpickle's module and builtin-type references). The
# sandbox narrows each further: `subimport` only of allowed modules, `_builtin_type` only of
# the names below, `_load_function` only after the function's source passes the scan.
UNPICKLE_INTERNALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("cloudpickle.cloudpickle", "subimport"),
        ("cloudpickle.cloudpickle", "_builtin_type"),
        ("nnsight.intervention.serialization", "_load_function"),
        ("nnsight.intervention.serialization", "_fill"),
    }
)
BUILTIN_TYPES: frozenset[str] = frozenset({"SimpleNamespace", "MethodType"})
SAFE_BUILTINS_IN_PICKLE: frozenset[str] = frozenset(
    {"set", "frozenset", "slice", "range", "complex", "bytearray", "list", "dict", "tuple"}
)

CONSERVATIVE = (
    "BLOCKED_BUILTINS; instances of classes shipped by value (refused outright);"
    " cloudpickle's bytecode fallback for functions without source (refused)"
)


def root(module: str) -> str:
    """The top-level package of a dotted module name.

    Example:
        >>> root("torch.nn.functional")
        'torch'
    """
    return module.split(".", 1)[0]


def module_allowed(module: str) -> bool:
    """Whether code on the server may import `module` (or unpickle a global from it).

    Example:
        >>> module_allowed("torch.linalg"), module_allowed("functools"), module_allowed("emovec")
        (True, False, False)
    """
    return root(module) in ALLOWED_MODULES


def attribute_blocked(name: str) -> bool:
    """Whether the server refuses attribute `name` (dunder attributes are blocked).

    Example:
        >>> attribute_blocked("__dict__"), attribute_blocked("output"), attribute_blocked("_module")
        (True, False, False)
    """
    return len(name) >= DUNDER_MIN_LENGTH and name.startswith(DUNDER) and name.endswith(DUNDER)


def documented_as_refused(module: str) -> bool:
    """Whether NDIF's documentation names `module` as refused (a hint for messages).

    Example:
        >>> documented_as_refused("functools.partial"), documented_as_refused("pathlib")
        (True, False)
    """
    return root(module) in KNOWN_BLOCKED_MODULES


def as_json() -> dict[str, object]:
    """The facts as plain data, for the sandbox process (which cannot import emovec)."""
    return {
        "facts_version": FACTS_VERSION,
        "allowed_modules": sorted(ALLOWED_MODULES),
        "emovec_roots": list(EMOVEC_ROOTS),
        "dunder": DUNDER,
        "dunder_min_length": DUNDER_MIN_LENGTH,
        "blocked_builtins": sorted(BLOCKED_BUILTINS),
        "attribute_builtins": sorted(ATTRIBUTE_BUILTINS),
        "unpickle_internals": sorted([list(pair) for pair in UNPICKLE_INTERNALS]),
        "builtin_types": sorted(BUILTIN_TYPES),
        "safe_builtins_in_pickle": sorted(SAFE_BUILTINS_IN_PICKLE),
    }

"""Which values a remote block may capture: the ones NDIF can rebuild and run.
nnsight pickles every value a block reads (cloudpickle); the server unpickles it under its
import whitelist. A value passes when its type is an exact builtin (`int`, not an `IntFlag`
or a `str` subclass that would bring its module along), a torch tensor/dtype/device, a
container of such values, or an object whose class lives in a whitelisted module. Functions
that cloudpickle ships by value (as source) are handed back to `_preflight` to scan like the
block itself.
"""

import dataclasses
import functools
import types
from collections.abc import Iterator
from typing import Any

import torch

from . import _whitelist as wl

# Exact types only: `type(value) in _LEAVES`. A subclass (re.IGNORECASE is an int,
# http.HTTPStatus.OK too) is pickled as its class, from its own module.
_LEAVES = (type(None), bool, int, float, complex, str, bytes, range, slice, type(Ellipsis))
_CONTAINERS = (list, tuple, set, frozenset)
_TORCH_LEAVES = (torch.Tensor, torch.dtype, torch.device, torch.Size)
_MAX_DEPTH = 6


def not_whitelisted(module: str) -> str:
    """The message for a module NDIF will not import."""
    documented = " (NDIF documents it as refused)" if wl.documented_as_refused(module) else ""
    return (
        f"module `{module}` is not whitelisted on NDIF{documented} (allowed: "
        f"{', '.join(sorted(wl.ALLOWED_MODULES))})"
    )


def _qualname(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    return f"{module}.{getattr(obj, '__qualname__', getattr(obj, '__name__', repr(obj)))}"


def _by_value(obj: Any) -> bool:
    """Whether cloudpickle ships `obj` (a function or class) by value rather than by name."""
    try:
        from cloudpickle.cloudpickle import _should_pickle_by_reference

        return not _should_pickle_by_reference(obj)
    except Exception:  # private API moved: fall back to cloudpickle's main rule
        return getattr(obj, "__module__", None) == "__main__"


def _function_problems(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Problems of a function or class reached from a block (its code may be shipped)."""
    if _is_emovec(value):
        kind = "function" if isinstance(value, types.FunctionType) else "class"
        yield (
            f"`{path}` is the emovec {kind} {_qualname(value)}: emovec is not installed on"
            " NDIF, so calling it in a remote block fails there; compute it client-side"
            " and pass tensors",
            None,
        )
    elif _by_value(value):
        if isinstance(value, type):
            yield (
                f"`{path}` is the class {_qualname(value)}, which would be shipped by value:"
                " preflight refuses classes defined outside installed packages",
                None,
            )
        else:
            yield "", value  # shipped as source: scan it like the block
    elif not wl.module_allowed(value.__module__ or ""):
        yield (
            f"`{path}` is {_qualname(value)}: {not_whitelisted(value.__module__ or '?')}",
            None,
        )


def value_problems(value: Any, path: str, depth: int, seen: set[int]) -> Iterator[tuple[str, Any]]:
    """Yield `(problem, function_to_scan_or_None)` for everything in `value` NDIF would refuse."""
    if type(value) in _LEAVES or isinstance(value, _TORCH_LEAVES) and not _foreign(value):
        return
    if id(value) in seen or depth > _MAX_DEPTH:
        return
    seen.add(id(value))
    if isinstance(value, functools.partial):
        yield (
            f"`{path}` is a functools.partial of {_qualname(value.func)}: functools is not"
            " whitelisted on NDIF; call it client-side or pass its arguments as values",
            None,
        )
        return
    if _is_emovec(type(value)) and not isinstance(value, (type, types.FunctionType)):
        kind = " (a dataclass)" if dataclasses.is_dataclass(value) else ""
        yield (
            f"`{path}` is an emovec {type(value).__name__} object{kind}: emovec is not installed"
            " on NDIF, so neither the object nor its methods exist there; pass its tensors and"
            " numbers instead (RemoteNNsightBackend compiles edits and reducers for you)",
            None,
        )
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        yield (
            f"`{path}` is a dataclass instance ({_qualname(type(value))}): NDIF cannot unpickle"
            " it (dataclasses is not whitelisted); pass its tensor and number fields instead",
            None,
        )
        return
    if isinstance(value, types.ModuleType):
        if not wl.module_allowed(value.__name__):
            yield (
                f"`{path}` is the module {value.__name__}: {not_whitelisted(value.__name__)}",
                None,
            )
        return
    if isinstance(value, _CONTAINERS) and _plain_type(value):
        for i, item in enumerate(value):
            yield from value_problems(item, f"{path}[{i}]", depth + 1, seen)
        return
    if isinstance(value, dict) and _plain_type(value):
        for key, item in value.items():
            yield from value_problems(key, f"{path} key", depth + 1, seen)
            yield from value_problems(item, f"{path}[{key!r}]", depth + 1, seen)
        return
    if isinstance(value, types.MethodType):
        owner = value.__self__
        if _is_emovec(type(owner)) or _is_emovec(owner):
            yield (
                f"`{path}` is the method {value.__name__} of an emovec"
                f" {type(owner).__name__}: emovec is not installed on NDIF, so its code cannot"
                " run in a remote block; compute it client-side and pass tensors",
                None,
            )
            return
        yield from value_problems(value.__func__, path, depth + 1, seen)
        yield from value_problems(owner, f"{path}.__self__", depth + 1, seen)
        return
    if isinstance(value, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        module = getattr(value, "__module__", None) or "builtins"
        if module == "builtins":
            if value.__name__ in wl.BLOCKED_BUILTINS:
                yield f"`{path}` is builtin {value.__name__}(), which preflight refuses", None
            return
        if not wl.module_allowed(module) and not _bound_to_allowed(value):
            yield f"`{path}` is {_qualname(value)}: {not_whitelisted(module)}", None
        return
    if isinstance(value, (types.FunctionType, type)):
        yield from _function_problems(value, path)
        return
    cls = type(value)
    if _is_emovec(cls):
        yield (
            f"`{path}` is an emovec {cls.__name__} object: emovec is not installed on NDIF;"
            " pass its tensors and numbers instead (RemoteNNsightBackend compiles edits and"
            " reducers into tensors for you)",
            None,
        )
    elif _by_value(cls):
        yield (
            f"`{path}` is an instance of {_qualname(cls)}, a class that would be shipped by value:"
            " preflight refuses it (NDIF may not rebuild it); pass tensors and numbers",
            None,
        )
    elif not wl.module_allowed(cls.__module__):
        yield f"`{path}` is a {_qualname(cls)} object: {not_whitelisted(cls.__module__)}", None


def _plain_type(value: Any) -> bool:
    # A subclass from elsewhere (a user's NamedTuple) is pickled as its class: not plain.
    cls = type(value)
    return cls in (*_CONTAINERS, dict) or wl.module_allowed(cls.__module__)


def _foreign(value: Any) -> bool:
    # A tensor subclass from another library would bring that library's class along.
    return isinstance(value, torch.Tensor) and not wl.module_allowed(type(value).__module__)


def _bound_to_allowed(value: Any) -> bool:
    owner = getattr(value, "__self__", None)
    return owner is not None and wl.module_allowed(type(owner).__module__)


def _is_emovec(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return isinstance(module, str) and wl.root(module) in wl.EMOVEC_ROOTS

"""`emovec.attach(model)`: find the adapter for a model object through entry points."""

from importlib.metadata import entry_points
from typing import Any

import torch

from ._backend import Backend
from ._dtype import resolve_dtype

GROUP = "emovec.backends"
# Most specific first: an nnsight model wraps an HF model, and a bridge wraps one too.
_ORDER = ("nnsight", "transformer_lens", "hf")


def _plugins() -> list[tuple[str, Any]]:
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    names = [n for n in _ORDER if n in found] + sorted(n for n in found if n not in _ORDER)
    return [(name, found[name]) for name in names]


def attach(model: Any, **kwargs: Any) -> Backend:
    """Wrap `model` (a TransformerBridge, an nnsight model or an HF causal LM) in its Backend.

    The choice is made by each installed adapter's `accepts(model)`, which looks only at the
    object's type and module names, so no framework is imported that the model did not bring.

    Raises:
        TypeError: nothing installed accepts the model (names what is supported and the extra).
    """
    if isinstance(model, Backend):
        return model
    plugins = _plugins()
    for _name, ep in plugins:
        plugin = ep.load()
        if plugin.accepts(model):
            return plugin.backend(model, **kwargs)
    installed = ", ".join(name for name, _ in plugins) or "none"
    raise TypeError(
        f"emovec cannot attach to a {type(model).__module__}.{type(model).__qualname__}."
        " Supported: a transformer_lens TransformerBridge, an nnsight TransformersModel/NNsight,"
        f" or a transformers PreTrainedModel (adapters installed: {installed}; install more with"
        " `pip install 'emovec[all]'`)."
    )


def plugin_hook(hook: str) -> Any:
    """The function `hook` of the first installed adapter plugin that offers it, or None.

    Plugins may offer more than `accepts`/`backend`/`load`: the HF adapter offers
    `load_model(name, **kwargs) -> (model, tokenizer)` and `prepare_model(name) -> Path` (the
    shipped models' loading), which the core finds here instead of importing an adapter.
    """
    plugins = dict(_plugins())
    for name in sorted(plugins, key=lambda n: n != "hf"):  # the plain HF loader first
        found = getattr(plugins[name].load(), hook, None)
        if callable(found):
            return found
    return None


def adapters() -> list[str]:
    """Names of the installed adapters, most specific first."""
    return [name for name, _ in _plugins()]


def load_backend(
    model: str = "smollm2-135m-instruct",
    *,
    adapter: str = "hf",
    dtype: "str | torch.dtype" = "float32",
    **kwargs: Any,
) -> Backend:
    """Load `model` (a shipped name, local folder or hub id) and wrap it for `adapter`.

    `dtype` is the type the forward runs in: "float32" (the default: adapters agree bit for
    bit), "bfloat16", "float16", or "auto" (bfloat16 on a GPU or on a CPU with native bfloat16
    matrix instructions, float32 elsewhere; see `emovec.resolve_dtype`). The CLI's `--dtype`
    defaults to "auto".

    Example: `load_backend(adapter="transformer_lens")` boots a TransformerBridge on the
    embedded default model; `adapter` is one of `emovec.adapters()`.
    """
    kwargs["dtype"] = resolve_dtype(dtype, kwargs.get("device", "cpu"))
    plugins = dict(_plugins())
    key = adapter.replace("-", "_").lower()
    key = {"tl": "transformer_lens", "transformerlens": "transformer_lens"}.get(key, key)
    if key not in plugins:
        raise ValueError(
            f"Unknown adapter {adapter!r}: installed are {', '.join(plugins) or 'none'}"
            " (install more with `pip install 'emovec[all]'`)."
        )
    return plugins[key].load().load(model, **kwargs)

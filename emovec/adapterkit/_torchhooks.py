"""Sites reached through plain torch forward hooks on a list of decoder-layer modules.

Used by the Hugging Face adapter for everything, and by adapters whose own mechanism lives
elsewhere (nnsight's traces) for edits that must persist across the user's own calls.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn

from emovec._batch import Reducer, keep
from emovec._edit import Edit
from emovec._site import Site

from ._hookplan import SitePlan, plan_sites, visit


def _hidden(value: Any) -> Tensor:
    # transformers 5 decoder layers return a tensor; 4.x returned a tuple (hidden, ...).
    return value[0] if isinstance(value, tuple) else value


def register(
    layers: nn.ModuleList,
    plans: dict[Site, SitePlan],
    mask: Tensor | None,
    reducer: Reducer,
    store: dict[Site, Tensor],
) -> list[Any]:
    """Install one hook per planned site; the caller removes the returned handles."""
    handles = []
    for site, plan in plans.items():
        layer = layers[site.layer]
        if site.stream == "resid_post":

            def post(module: nn.Module, args: Any, output: Any, plan: SitePlan = plan) -> Any:
                new = visit(plan, _hidden(output), mask, reducer, store)
                return (new, *output[1:]) if isinstance(output, tuple) else new

            handles.append(layer.register_forward_hook(post))
        else:

            def pre(module: nn.Module, args: Any, kwargs: Any, plan: SitePlan = plan) -> Any:
                if args:
                    return (visit(plan, args[0], mask, reducer, store), *args[1:]), kwargs
                kwargs = dict(kwargs)
                kwargs["hidden_states"] = visit(plan, kwargs["hidden_states"], mask, reducer, store)
                return args, kwargs

            handles.append(layer.register_forward_pre_hook(pre, with_kwargs=True))
    return handles


@contextmanager
def hooked(
    layers: nn.ModuleList,
    edits: Sequence[Any],
    sites: Sequence[Site] = (),
    mask: Tensor | None = None,
    reducer: Reducer = keep,
    store: dict[Site, Tensor] | None = None,
) -> Iterator[None]:
    """Hooks for `edits` (bound or plain `Edit`s) and captures, removed on exit, even on error."""
    bound = [(e, None) if isinstance(e, Edit) else e for e in edits]
    handles = register(
        layers, plan_sites(bound, sites), mask, reducer, {} if store is None else store
    )
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()

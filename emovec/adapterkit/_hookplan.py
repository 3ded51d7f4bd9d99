"""What an adapter does at one site inside a forward: apply edits, then reduce and store.

Adapters differ only in how they reach a site (a hook name, a module, a traced proxy); the work
done there is this, so every adapter edits and captures identically.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from jaxtyping import Bool, Float
from torch import Tensor

from emovec._batch import Reducer
from emovec._site import Site

from ._forward import BoundEdit


@dataclass
class SitePlan:
    site: Site
    edits: list[BoundEdit] = field(default_factory=list)
    capture: bool = False


def plan_sites(edits: Sequence[BoundEdit], sites: Sequence[Site]) -> dict[Site, SitePlan]:
    """Group edits and captures by site, in forward order."""
    plans: dict[Site, SitePlan] = {}
    for bound in edits:
        site = bound[0].site
        plans.setdefault(site, SitePlan(site)).edits.append(bound)
    for site in sites:
        plans.setdefault(site, SitePlan(site)).capture = True
    return dict(
        sorted(plans.items(), key=lambda item: (item[0].layer, item[0].stream != "resid_pre"))
    )


def visit(
    plan: SitePlan,
    x: Float[Tensor, "batch pos d_model"],
    mask: Bool[Tensor, "batch total"] | None,
    reducer: Reducer,
    store: dict[Site, Tensor],
) -> Float[Tensor, "batch pos d_model"]:
    """Apply the site's edits to `x` (in order), store its reduction if captured, return it.

    `mask` covers every position so far (`total` = cached + new on decode steps); the last
    `pos` of its columns belong to `x`.
    """
    for edit, positions in plan.edits:
        if positions is not None:
            positions = positions[:, -x.shape[1] :].to(x.device)
        x = edit.apply(x, positions)
    if plan.capture and mask is not None:
        store[plan.site] = reducer(x.detach(), mask[:, -x.shape[1] :].to(x.device))
    return x

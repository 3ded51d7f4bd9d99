"""emovec: find, validate, monitor and causally test emotion directions in language models.

The most used maths is re-exported from `emovec.ops` (the same objects): `project`, `reject`,
`orthonormalize`, `orthogonalize_set`, `orthogonalize_against`, `steer`, `clamp`, `ablate`,
`patch_projection`, `scores`, `cosine_matrix` and `pca`.
"""

from importlib.metadata import PackageNotFoundError, version

from . import ops as ops
from ._attach import adapters as adapters
from ._attach import attach as attach
from ._attach import load_backend as load_backend
from ._backend import Backend as Backend
from ._backend import Control as Control
from ._backend import Generation as Generation
from ._backend import Observer as Observer
from ._backend import StepView as StepView
from ._batch import MeanFrom as MeanFrom
from ._batch import TokenBatch as TokenBatch
from ._batch import keep as keep
from ._batch import last_token as last_token
from ._dtype import cpu_has_native_bf16 as cpu_has_native_bf16
from ._dtype import resolve_dtype as resolve_dtype
from ._edit import Edit as Edit
from ._provenance import Origin as Origin
from ._provenance import Provenance as Provenance
from ._provenance import origin_of as origin_of
from ._provenance import remember_origin as remember_origin
from ._site import Site as Site
from ._site import check_site_spec as check_site_spec
from ._site import parse_sites as parse_sites
from .adapterkit import BackendBase as BackendBase
from .models import load_model as load_model
from .ops import ablate as ablate
from .ops import clamp as clamp
from .ops import cosine_matrix as cosine_matrix
from .ops import orthogonalize_against as orthogonalize_against
from .ops import orthogonalize_set as orthogonalize_set
from .ops import orthonormalize as orthonormalize
from .ops import patch_projection as patch_projection
from .ops import pca as pca
from .ops import project as project
from .ops import reject as reject
from .ops import scores as scores
from .ops import steer as steer

try:
    __version__ = version("emovec")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+local"

__all__ = [
    "Backend",
    "BackendBase",
    "Control",
    "Edit",
    "Generation",
    "MeanFrom",
    "Observer",
    "Origin",
    "Provenance",
    "Site",
    "StepView",
    "TokenBatch",
    "__version__",
    "ablate",
    "adapters",
    "attach",
    "clamp",
    "cosine_matrix",
    "cpu_has_native_bf16",
    "load_backend",
    "keep",
    "last_token",
    "load_model",
    "ops",
    "origin_of",
    "orthogonalize_against",
    "orthogonalize_set",
    "orthonormalize",
    "check_site_spec",
    "parse_sites",
    "patch_projection",
    "pca",
    "project",
    "reject",
    "remember_origin",
    "resolve_dtype",
    "scores",
    "steer",
]

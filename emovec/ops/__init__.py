"""The maths of emovec: pure functions on torch tensors (no framework, no model).

Subspaces (`project`, `reject`, `orthonormalize`, `principal_angles`), orthogonalisation
(`orthogonalize_set`, `orthogonalize_against`), interventions (`steer`, `clamp`,
`patch_projection`, `ablate`), readout (`scores`, `cosine_matrix`), streaming statistics
(`RunningMean`, `RunningCovariance`), PCA (`pca`, `pca_from_covariance`), rank statistics
(`spearman`, `auroc`) and the geometry of vector sets (`rsa`, `procrustes`, `kmeans`,
`hierarchical_order`, `bootstrap_ci`).

The most used are also importable from `emovec` itself (`emovec.reject is emovec.ops.reject`).
"""

from ._geometry import Clusters as Clusters
from ._geometry import ConfidenceInterval as ConfidenceInterval
from ._geometry import Procrustes as Procrustes
from ._geometry import bootstrap_ci as bootstrap_ci
from ._geometry import hierarchical_order as hierarchical_order
from ._geometry import kmeans as kmeans
from ._geometry import procrustes as procrustes
from ._geometry import rsa as rsa
from ._interventions import SteeringWarning as SteeringWarning
from ._interventions import ablate as ablate
from ._interventions import check_steering as check_steering
from ._interventions import clamp as clamp
from ._interventions import patch_projection as patch_projection
from ._interventions import steer as steer
from ._orthogonalize import Orthogonalized as Orthogonalized
from ._orthogonalize import orthogonalize_against as orthogonalize_against
from ._orthogonalize import orthogonalize_set as orthogonalize_set
from ._pca import PrincipalComponents as PrincipalComponents
from ._pca import pca as pca
from ._pca import pca_from_covariance as pca_from_covariance
from ._rank import auroc as auroc
from ._rank import spearman as spearman
from ._readout import cosine_matrix as cosine_matrix
from ._readout import scores as scores
from ._streaming import RunningCovariance as RunningCovariance
from ._streaming import RunningMean as RunningMean
from ._subspace import orthonormalize as orthonormalize
from ._subspace import principal_angles as principal_angles
from ._subspace import project as project
from ._subspace import reject as reject

__all__ = [
    "Clusters",
    "ConfidenceInterval",
    "Orthogonalized",
    "PrincipalComponents",
    "Procrustes",
    "RunningCovariance",
    "RunningMean",
    "ablate",
    "auroc",
    "bootstrap_ci",
    "clamp",
    "cosine_matrix",
    "hierarchical_order",
    "kmeans",
    "orthogonalize_against",
    "orthogonalize_set",
    "orthonormalize",
    "patch_projection",
    "pca",
    "pca_from_covariance",
    "principal_angles",
    "procrustes",
    "project",
    "reject",
    "rsa",
    "scores",
    "spearman",
    "steer",
    "SteeringWarning",
    "check_steering",
]

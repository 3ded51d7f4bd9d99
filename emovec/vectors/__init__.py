"""Emotion vectors as data: `EmotionVectors` (a `[emotion, site, d_model]` bundle) and its file.

A bundle is one `.safetensors` file holding the vectors and, in its header, JSON provenance
(model id and weights hash, d_model, n_layers, sites, recipe, corpus hash, residual norms per
site, emovec version). `EmotionVectors.load(path).check(backend)` refuses a model the vectors
were not made for.
"""

from ._bundle import FORMAT as FORMAT
from ._bundle import EmotionVectors as EmotionVectors
from ._bundle import ModelMismatchError as ModelMismatchError
from ._bundle import UnknownNameError as UnknownNameError
from ._bundle import VectorFileError as VectorFileError
from ._bundle import write_atomic as write_atomic
from ._validate import BundleWarning as BundleWarning

__all__ = [
    "FORMAT",
    "BundleWarning",
    "EmotionVectors",
    "ModelMismatchError",
    "UnknownNameError",
    "VectorFileError",
    "write_atomic",
]

"""What emovec extracts directions for: emotion words, their human affect norms, story topics.

`Catalogue.default()` is the paper's 171 emotion words; `load_norms()` the Warriner et al. (2013)
valence/arousal/dominance norms for 126 of them (CC BY-NC-ND 3.0, see
`emovec/data/NOTICE-affect-norms.md`); `default_topics()` 100 valence-ambiguous situations for
stories and `default_neutral_topics()` 60 neutral dialogue subjects. Each also takes a user file.
"""

from ._catalogue import NORM_COLUMNS as NORM_COLUMNS
from ._catalogue import AffectNorms as AffectNorms
from ._catalogue import Catalogue as Catalogue
from ._catalogue import Norm as Norm
from ._catalogue import default_neutral_topics as default_neutral_topics
from ._catalogue import default_topics as default_topics
from ._catalogue import load_norms as load_norms
from ._catalogue import load_topics as load_topics

__all__ = [
    "NORM_COLUMNS",
    "AffectNorms",
    "Catalogue",
    "Norm",
    "default_neutral_topics",
    "default_topics",
    "load_norms",
    "load_topics",
]

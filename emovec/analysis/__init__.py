"""Validation of emotion vectors against the paper's numbers.

`valence_alignment(vectors)`: per site, PCA of the vectors and the correlation of PC1/PC2 with
human valence and arousal. `heldout_identification(backend, stories, neutral)`: leave-topics-out
accuracy of story vectors next to the template control.
"""

from ._heldout import HeldoutIdentification as HeldoutIdentification
from ._heldout import SiteIdentification as SiteIdentification
from ._heldout import heldout_identification as heldout_identification
from ._heldout import split_topics as split_topics
from ._heldout import topk_accuracy as topk_accuracy
from ._valence import SiteAlignment as SiteAlignment
from ._valence import ValenceAlignment as ValenceAlignment
from ._valence import pearson as pearson
from ._valence import valence_alignment as valence_alignment

__all__ = [
    "HeldoutIdentification",
    "SiteAlignment",
    "SiteIdentification",
    "ValenceAlignment",
    "heldout_identification",
    "pearson",
    "split_topics",
    "topk_accuracy",
    "valence_alignment",
]

"""Validation of emotion vectors against the paper's numbers.

`valence_alignment(vectors)`: per site, PCA of the vectors and the correlation of PC1/PC2 with
human valence and arousal. `heldout_identification(backend, stories, neutral)`: leave-topics-out
accuracy of story vectors next to the template control. Also the report's analyses: geometry
with bootstrap intervals, similarity structure, logit lens, intensity sweeps and implicit
scenarios, and comparisons between layers or bundles.
"""

from ._accuracy import topk_accuracy as topk_accuracy
from ._compare import BundleComparison as BundleComparison
from ._compare import LayerRSA as LayerRSA
from ._compare import compare_bundles as compare_bundles
from ._compare import layer_rsa as layer_rsa
from ._compare import plot_comparison as plot_comparison
from ._compare import plot_layer_rsa as plot_layer_rsa
from ._crossmodel import CrossModel as CrossModel
from ._crossmodel import compare_models as compare_models
from ._crossmodel import plot_cross_model as plot_cross_model
from ._crossmodel import procrustes_error as procrustes_error
from ._geometry_plots import plot_geometry as plot_geometry
from ._geometry_plots import plot_layer_sweep as plot_layer_sweep
from ._geometry_report import GeometryReport as GeometryReport
from ._geometry_report import geometry_report as geometry_report
from ._geometry_report import ratings_for as ratings_for
from ._geometry_report import readout_table as readout_table
from ._geometry_report import recommend_site as recommend_site
from ._heldout import HeldoutIdentification as HeldoutIdentification
from ._heldout import SiteIdentification as SiteIdentification
from ._heldout import heldout_identification as heldout_identification
from ._heldout import split_topics as split_topics
from ._lexical import LexicalIdentification as LexicalIdentification
from ._lexical import lexical_identification as lexical_identification
from ._logit_lens import LogitLens as LogitLens
from ._logit_lens import lens_table as lens_table
from ._logit_lens import logit_lens as logit_lens
from ._readings import read_probes as read_probes
from ._readout import ReadoutTable as ReadoutTable
from ._readout import loo_ridge_predictions as loo_ridge_predictions
from ._readout import loo_ridge_r as loo_ridge_r
from ._readout import readout_by_site as readout_by_site
from ._reliability import SiteReliability as SiteReliability
from ._reliability import SplitHalfReliability as SplitHalfReliability
from ._reliability import split_half_agreement as split_half_agreement
from ._scenarios import ScenarioReport as ScenarioReport
from ._scenarios import implicit_scenarios as implicit_scenarios
from ._scenarios import plot_scenarios as plot_scenarios
from ._similarity import ANTONYMS as ANTONYMS
from ._similarity import Similarity as Similarity
from ._similarity import plot_similarity as plot_similarity
from ._similarity import similarity as similarity
from ._similarity import valence_pairs as valence_pairs
from ._speaker import SpeakerReport as SpeakerReport
from ._speaker import speaker_report as speaker_report
from ._stimuli import Family as Family
from ._stimuli import Scenario as Scenario
from ._stimuli import load_families as load_families
from ._stimuli import load_scenarios as load_scenarios
from ._sweeps import FamilySweep as FamilySweep
from ._sweeps import SweepReport as SweepReport
from ._sweeps import intensity_sweep as intensity_sweep
from ._sweeps import plot_family as plot_family
from ._valence import SiteAlignment as SiteAlignment
from ._valence import ValenceAlignment as ValenceAlignment
from ._valence import pearson as pearson
from ._valence import valence_alignment as valence_alignment

__all__ = [
    "ANTONYMS",
    "BundleComparison",
    "compare_bundles",
    "compare_models",
    "CrossModel",
    "Family",
    "FamilySweep",
    "geometry_report",
    "GeometryReport",
    "heldout_identification",
    "lexical_identification",
    "LexicalIdentification",
    "HeldoutIdentification",
    "implicit_scenarios",
    "intensity_sweep",
    "layer_rsa",
    "LayerRSA",
    "lens_table",
    "SpeakerReport",
    "speaker_report",
    "SiteReliability",
    "SplitHalfReliability",
    "split_half_agreement",
    "loo_ridge_predictions",
    "loo_ridge_r",
    "ReadoutTable",
    "readout_by_site",
    "readout_table",
    "load_families",
    "load_scenarios",
    "logit_lens",
    "LogitLens",
    "pearson",
    "plot_comparison",
    "plot_cross_model",
    "procrustes_error",
    "plot_family",
    "plot_geometry",
    "plot_layer_rsa",
    "plot_layer_sweep",
    "plot_scenarios",
    "plot_similarity",
    "ratings_for",
    "read_probes",
    "recommend_site",
    "Scenario",
    "ScenarioReport",
    "Similarity",
    "similarity",
    "SiteAlignment",
    "SiteIdentification",
    "split_topics",
    "SweepReport",
    "topk_accuracy",
    "valence_alignment",
    "valence_pairs",
    "ValenceAlignment",
]

"""Causal interventions with controls: steer, ablate, clamp, patch; dose-response; suites.

Specs (`Steer`, `Ablate`, `Clamp`, `Patch`) say what to do in the paper's terms and compile
against a bundle and a backend into `emovec.Edit`s (`spec.edits(vectors, backend, batch)`),
checking every input before any model call; they compose with `+` or a list. Experiments:
`patching` (per-site causal patching of the emotion subspace), `dose_response` (strengths x
sites against >= 20 norm-matched random directions and a shuffled-label control, with side
effects), `specificity` (steer i, read j), and the behavioural suites `preference_suite` and
`pressure_suite` (JSONL data in `emovec/data/suites/`). Every result is plain data with
`.summary()`, `.save(folder)` (JSON and PNG/SVG plots).
"""

from ._denial import DenialCheck as DenialCheck
from ._denial import denial_check as denial_check
from ._directions import span_basis as span_basis
from ._dose import GENERATION_PROMPTS as GENERATION_PROMPTS
from ._dose import NEUTRAL_TEXTS as NEUTRAL_TEXTS
from ._dose import DoseResponse as DoseResponse
from ._dose import dose_response as dose_response
from ._dose import generation_perplexity as generation_perplexity
from ._dose import random_directions as random_directions
from ._elo import fit_bradley_terry as fit_bradley_terry
from ._elo import rating_against as rating_against
from ._elo import to_elo as to_elo
from ._experiment import ExperimentResult as ExperimentResult
from ._metrics import KL as KL
from ._metrics import LogitDiff as LogitDiff
from ._metrics import LogProb as LogProb
from ._metrics import Metric as Metric
from ._metrics import Probability as Probability
from ._metrics import parse_metric as parse_metric
from ._patching import PatchResult as PatchResult
from ._patching import patching as patching
from ._positions import last as last
from ._preferences import PreferenceResult as PreferenceResult
from ._preferences import preference_suite as preference_suite
from ._pressure import PressureResult as PressureResult
from ._pressure import pressure_suite as pressure_suite
from ._runs import next_token_logits as next_token_logits
from ._sites import default_site as default_site
from ._spec import Ablate as Ablate
from ._spec import Clamp as Clamp
from ._spec import Intervention as Intervention
from ._spec import Interventions as Interventions
from ._spec import Patch as Patch
from ._spec import Steer as Steer
from ._spec import compile_edits as compile_edits
from ._specificity import Specificity as Specificity
from ._specificity import specificity as specificity
from ._suites import Activity as Activity
from ._suites import Situation as Situation
from ._suites import SuiteFileError as SuiteFileError
from ._suites import load_activities as load_activities
from ._suites import load_situations as load_situations
from ._suites import suite_path as suite_path

__all__ = [
    "ExperimentResult",
    "DenialCheck",
    "denial_check",
    "GENERATION_PROMPTS",
    "KL",
    "NEUTRAL_TEXTS",
    "Ablate",
    "Activity",
    "Clamp",
    "DoseResponse",
    "Intervention",
    "Interventions",
    "LogProb",
    "LogitDiff",
    "Metric",
    "Patch",
    "PatchResult",
    "PreferenceResult",
    "PressureResult",
    "Probability",
    "Situation",
    "Specificity",
    "Steer",
    "SuiteFileError",
    "compile_edits",
    "default_site",
    "dose_response",
    "fit_bradley_terry",
    "generation_perplexity",
    "last",
    "load_activities",
    "load_situations",
    "next_token_logits",
    "parse_metric",
    "patching",
    "preference_suite",
    "pressure_suite",
    "random_directions",
    "rating_against",
    "span_basis",
    "specificity",
    "suite_path",
    "to_elo",
]

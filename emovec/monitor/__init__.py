"""Emotion monitoring: probe readings on every token while a model generates, calibrated
baselines, alert rules, actions (record, call, stop, intervene), an event stream, views, and an
evaluation of how well the monitor separates ordinary requests from pressure.

    from emovec.monitor import EventWriter, Monitor, Rule, Sustained, Threshold

    rule = Rule("desperation", Sustained(Threshold("desperate", above=3.0), 2), "stop")
    monitor = Monitor(vectors, calibration=cal, rules=[rule], on_event=EventWriter("e.jsonl"))
    backend.generate(["..."], observers=[monitor], chat=True)

See docs/monitoring.md for a tutorial and the event schema.
"""

from ._actions import Action as Action
from ._actions import Alert as Alert
from ._actions import Call as Call
from ._actions import Intervene as Intervene
from ._actions import Record as Record
from ._actions import Stop as Stop
from ._actions import as_action as as_action
from ._calibrate import calibrate as calibrate
from ._calibration import Calibration as Calibration
from ._calibration import calibration_from_readings as calibration_from_readings
from ._calibration import calibration_path as calibration_path
from ._calibration import vectors_fingerprint as vectors_fingerprint
from ._conditions import AllOf as AllOf
from ._conditions import AnyOf as AnyOf
from ._conditions import Condition as Condition
from ._conditions import Not as Not
from ._conditions import Rising as Rising
from ._conditions import Sustained as Sustained
from ._conditions import Then as Then
from ._conditions import Threshold as Threshold
from ._conditions import condition_from_dict as condition_from_dict
from ._evaluate import Evaluation as Evaluation
from ._evaluate import SiteResult as SiteResult
from ._evaluate import auroc as auroc
from ._evaluate import evaluate as evaluate
from ._events import SCHEMA as SCHEMA
from ._events import EventWriter as EventWriter
from ._events import iter_events as iter_events
from ._events import read_events as read_events
from ._events import validate_event as validate_event
from ._events import write_events as write_events
from ._layout import Frame as Frame
from ._layout import Layout as Layout
from ._monitor import Monitor as Monitor
from ._probes import Probes as Probes
from ._probes import default_site as default_site
from ._prompts import EvalPrompt as EvalPrompt
from ._prompts import load_eval_prompts as load_eval_prompts
from ._render import LiveView as LiveView
from ._render import Transcript as Transcript
from ._render import heatmap_html as heatmap_html
from ._render import plot_readings as plot_readings
from ._render import save_heatmap as save_heatmap
from ._rule_files import dumps_rules as dumps_rules
from ._rule_files import load_rules as load_rules
from ._rule_files import rules_from_dict as rules_from_dict
from ._rule_files import rules_to_dict as rules_to_dict
from ._rules import Rule as Rule
from ._rules import RuleSet as RuleSet

__all__ = [
    "SCHEMA",
    "Action",
    "Alert",
    "AllOf",
    "AnyOf",
    "Calibration",
    "Call",
    "Condition",
    "EvalPrompt",
    "Evaluation",
    "EventWriter",
    "Frame",
    "Intervene",
    "Layout",
    "LiveView",
    "Monitor",
    "Not",
    "Probes",
    "Record",
    "Rising",
    "Rule",
    "RuleSet",
    "SiteResult",
    "Stop",
    "Sustained",
    "Then",
    "Threshold",
    "Transcript",
    "as_action",
    "auroc",
    "calibrate",
    "calibration_from_readings",
    "calibration_path",
    "condition_from_dict",
    "default_site",
    "dumps_rules",
    "evaluate",
    "heatmap_html",
    "iter_events",
    "load_eval_prompts",
    "load_rules",
    "plot_readings",
    "read_events",
    "rules_from_dict",
    "rules_to_dict",
    "save_heatmap",
    "validate_event",
    "vectors_fingerprint",
    "write_events",
]

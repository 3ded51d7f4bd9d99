"""The adapter toolkit: what emovec's adapters share, public to anyone writing a new one.

The core never imports this package's users (the adapters); adapters import it. It holds
`BackendBase` (the whole `emovec.Backend` contract on top of one `_forward`), hook plans (what
happens at a site: edits, then capture), plain torch forward hooks on a layer list, starting a
forward part-way, the decode loop, and where Hugging Face models keep their layers.
See `docs/contributing-adapters.md`.
"""

from ._base import BackendBase as BackendBase
from ._forward import BoundEdit as BoundEdit
from ._forward import Forwarder as Forwarder
from ._forward import ForwardOutput as ForwardOutput
from ._forward import bind_decode as bind_decode
from ._forward import bind_prompt as bind_prompt
from ._forward import check_edits as check_edits
from ._forward import positions_if_left_padded as positions_if_left_padded
from ._generation import completions as completions
from ._generation import generate_loop as generate_loop
from ._generation import nucleus as nucleus
from ._hfpaths import LAYER_PATHS as LAYER_PATHS
from ._hfpaths import decoder_layers as decoder_layers
from ._hfpaths import final_norm_and_head as final_norm_and_head
from ._hfpaths import find_path as find_path
from ._hfpaths import layer_path as layer_path
from ._hookplan import SitePlan as SitePlan
from ._hookplan import plan_sites as plan_sites
from ._hookplan import visit as visit
from ._startat import list_holding as list_holding
from ._startat import started_at as started_at
from ._torchhooks import hooked as hooked
from ._torchhooks import register as register

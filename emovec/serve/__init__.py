"""`emovec monitor serve`: a local web page that streams per-token emotion readings live.

One process holds one backend and one vector bundle; the page sends a chat message and watches
the reply arrive token by token, each token coloured by the chosen emotions, with a live chart
and the calibrated alerts as they fire. Needs the `serve` extra (starlette, uvicorn).

    from emovec.serve import Engine, create_app, running

    engine = Engine(backend, vectors, calibration)
    with running(create_app(engine)) as url:
        ...  # open url in a browser

See docs/monitor-live.md.
"""

from ._app import create_app as create_app
from ._engine import Busy as Busy
from ._engine import Engine as Engine
from ._requests import BadRequest as BadRequest
from ._requests import ChatRequest as ChatRequest
from ._requests import Limits as Limits
from ._requests import parse_chat as parse_chat
from ._server import free_port as free_port
from ._server import is_local as is_local
from ._server import running as running
from ._server import serve as serve
from ._transcript import FORMAT as FORMAT
from ._transcript import loads_transcript as loads_transcript
from ._transcript import validate_transcript as validate_transcript

__all__ = [
    "FORMAT",
    "BadRequest",
    "Busy",
    "ChatRequest",
    "Engine",
    "Limits",
    "create_app",
    "free_port",
    "is_local",
    "loads_transcript",
    "parse_chat",
    "running",
    "serve",
    "validate_transcript",
]

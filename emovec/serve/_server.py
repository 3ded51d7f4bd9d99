"""Running the app under uvicorn: in the foreground (the CLI) or in a thread (tests, benchmarks)."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LOCAL = "127.0.0.1"


def is_local(host: str) -> bool:
    """Whether `host` binds the loopback interface only."""
    return host in ("127.0.0.1", "localhost", "::1")


def _config(app: Any, host: str, port: int) -> Any:
    import uvicorn

    # h11 and no websockets/lifespan: the app needs neither, and fewer moving parts to warn.
    return uvicorn.Config(
        app, host=host, port=port, http="h11", ws="none", lifespan="off", log_level="warning"
    )


def free_port(host: str = LOCAL) -> int:
    """A port that is free on `host` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve(app: Any, host: str = LOCAL, port: int = 8765) -> None:
    """Serve `app` in the foreground until interrupted."""
    import uvicorn

    uvicorn.Server(_config(app, host, port)).run()


@contextmanager
def running(app: Any, host: str = LOCAL, port: int | None = None) -> Iterator[str]:
    """Serve `app` from a thread for the duration of the block; yields its base URL."""
    import uvicorn

    port = port or free_port(host)
    server = uvicorn.Server(_config(app, host, port))
    thread = threading.Thread(target=server.run, name="emovec-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"The server did not start on {host}:{port}.")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)

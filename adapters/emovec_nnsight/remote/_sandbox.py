"""The client's handle on the isolated server stand-in (`_server.py`, its own process).

One process serves many requests (importing torch and nnsight takes seconds on the build
machines), one at a time. It is started lazily and gets its configuration (the whitelist facts
as JSON, the site-packages folders as plain paths, the keys it accepts) as the first frame on
its stdin: never on its command line, which any user can read with `ps`, and never the
client's API key in its environment.
"""

import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from . import _whitelist

_SERVER = Path(__file__).with_name("_server.py")
# Environment variables the server process must not inherit (credentials of any kind).
_SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD")


class SandboxError(RuntimeError):
    """The sandbox process died or answered out of protocol."""


class Sandbox:
    """An isolated stand-in for NDIF's server: strict unpickling, guarded execution.

    Args:
        deployments: Model id -> folder with a Hugging Face checkpoint (model + tokenizer):
            the models this stand-in "serves". Requests for any other id are refused.
        api_keys: Keys the stand-in accepts, or None to accept requests without a key.
        server_versions: Package versions the stand-in claims (e.g. `{"nnsight": "0.9.0"}`
            to rehearse a client/server mismatch); defaults to what is installed.

    Example:
        >>> Sandbox().environment()["emovec_blocked"]  # doctest: +SKIP
        True
    """

    def __init__(
        self,
        deployments: Mapping[str, "str | Path"] | None = None,
        *,
        api_keys: "set[str] | None" = None,
        server_versions: Mapping[str, str] | None = None,
    ):
        self.deployments = {k: str(Path(v).resolve()) for k, v in (deployments or {}).items()}
        self._api_keys = None if api_keys is None else sorted(api_keys)
        self.server_versions = dict(server_versions or {})
        self._process: subprocess.Popen | None = None
        self._log: Any = None
        self._lock = threading.Lock()
        self.requests = 0  # requests answered (all ops), for tests and progress
        self.counts: dict[
            str, int
        ] = {}  # requests answered, per op ("hello", "check", "rehearse", "run")

    # -- process ------------------------------------------------------------------------------
    def start(self) -> "Sandbox":
        if self._process is not None and self._process.poll() is None:
            return self
        config = {
            "facts": _whitelist.as_json(),
            "site_packages": [p for p in sys.path if p.rstrip("/").endswith("-packages")],
            "deployments": self.deployments,
            "api_keys": self._api_keys,
            "server_versions": self.server_versions,
        }
        env = {
            k: v
            for k, v in os.environ.items()
            if not any(marker in k.upper() for marker in _SECRET_MARKERS)
        }
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        self._log = tempfile.TemporaryFile(prefix="emovec-sandbox-", suffix=".log")
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_SERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            cwd=tempfile.gettempdir(),
        )
        assert self._process.stdin is not None
        payload = json.dumps(config).encode()
        self._process.stdin.write(struct.pack("<Q", len(payload)) + payload)
        self._process.stdin.flush()
        return self

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            try:
                process.stdin.close()  # type: ignore[union-attr]
                process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
            finally:
                process.stdout.close()  # type: ignore[union-attr]
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            self.close()
        except Exception:
            pass

    def _log_tail(self, chars: int = 3000) -> str:
        if self._log is None:
            return ""
        self._log.seek(0, io.SEEK_END)
        size = self._log.tell()
        self._log.seek(max(0, size - chars))
        return self._log.read().decode("utf-8", "replace")

    # -- protocol -----------------------------------------------------------------------------
    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request and return the stand-in's reply (a plain dict)."""
        with self._lock:
            self.start()
            process = self._process
            assert process is not None and process.stdin is not None and process.stdout is not None
            payload = pickle.dumps({"op": op, **fields}, protocol=4)
            try:
                process.stdin.write(struct.pack("<Q", len(payload)) + payload)
                process.stdin.flush()
                header = process.stdout.read(8)
                if len(header) < 8:
                    raise EOFError
                (size,) = struct.unpack("<Q", header)
                frame = process.stdout.read(size)
            except (OSError, EOFError):
                tail = self._log_tail()
                self.close()
                raise SandboxError(
                    f"The sandbox server process died. Its log ends:\n{tail}"
                ) from None
            self.requests += 1
            self.counts[op] = self.counts.get(op, 0) + 1
        return torch.load(io.BytesIO(frame), map_location="cpu", weights_only=True)

    def environment(self) -> dict[str, Any]:
        """What the stand-in reports about itself: Python, package versions, isolation."""
        return self.request("hello")["env"]

"""The sandbox learns the API keys it accepts through a pipe, never from its command line.

Any user on the machine can read a process's command line (`ps`, /proc/PID/cmdline).
"""

import subprocess
import sys
from pathlib import Path

from emovec_nnsight import Sandbox

SECRET = "ndif-argv-secret-9f3c1e7b"  # distinctive, so any leak is found by search


def readable_by_anyone(pid: int, secret: str) -> bool:
    """Whether `secret` is in the process's command line or environment."""
    proc = Path(f"/proc/{pid}")
    return any(secret.encode() in (proc / part).read_bytes() for part in ("cmdline", "environ"))


def test_keys_reach_the_sandbox_but_not_its_command_line():
    with Sandbox(api_keys={SECRET}) as box:
        # The keys arrived: a wrong key is refused, the right one gets past the key check.
        wrong = box.request("run", headers={"ndif-api-key": "not-the-key"})
        assert wrong == {"error": "auth", "message": "Invalid API key"}
        right = box.request("run", headers={"ndif-api-key": SECRET, "nnsight-version": "0"})
        assert right["error"] == "version"
        process = box._process
        assert process is not None
        assert not any(SECRET in arg for arg in process.args)  # type: ignore[union-attr]
        assert not readable_by_anyone(process.pid, SECRET)


def test_readable_by_anyone_finds_a_key_on_a_command_line():
    program = "import time; print('up', flush=True); time.sleep(60)"
    planted = subprocess.Popen([sys.executable, "-c", program, SECRET], stdout=subprocess.PIPE)
    try:
        assert planted.stdout is not None and planted.stdout.readline() == b"up\n"  # exec'd
        assert readable_by_anyone(planted.pid, SECRET)
    finally:
        planted.kill()
        planted.wait()
        planted.stdout.close()  # type: ignore[union-attr]

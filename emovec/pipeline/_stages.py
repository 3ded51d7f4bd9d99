"""Stages keyed by the content hash of their inputs: rerun only what changed.

Each stage records, in `<out>/stages/<name>.json`, the key it ran with and the files it wrote.
A later run with the same key whose files all still exist is skipped; any change of an input
(corpus hash, model weights, settings, an upstream stage's output) changes the key.
"""

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emovec._files import write_json


def file_digest(path: "str | os.PathLike[str]") -> str:
    """sha256 of a file's bytes (what downstream keys depend on)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def bundle_digest(vectors: Any) -> str:
    """sha256 of an `EmotionVectors`' content: `emovec.monitor.vectors_fingerprint` of its values
    with its metadata except the creation time, so that identical vectors made twice key their
    dependants alike (a file digest would change with the timestamp and rerun later stages)."""
    from emovec.monitor import vectors_fingerprint

    meta = {k: v for k, v in dict(vectors.metadata).items() if k != "created"}
    values = vectors_fingerprint(vectors, vectors.emotions, vectors.sites)
    return hashlib.sha256(
        json.dumps([values, meta], sort_keys=True, default=str).encode()
    ).hexdigest()


def key_of(inputs: Mapping[str, Any]) -> str:
    """A stable hash of JSON-able inputs.

    Example:
        >>> key_of({"a": 1, "b": [2, 3]}) == key_of({"b": [2, 3], "a": 1})
        True
    """
    text = json.dumps(inputs, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Stage:
    """One step of the main job: `run(out_dir)` returns its outputs (paths and numbers)."""

    name: str
    inputs: Mapping[str, Any]
    run: Callable[[Path], Mapping[str, Any]]


class StageCache:
    """Runs stages under `out`, skipping those whose key and files are unchanged."""

    def __init__(
        self,
        out: Path,
        *,
        force: bool = False,
        say: Callable[[str], None] = print,
        context: Mapping[str, Any] | None = None,
    ):
        self.out = Path(out)
        self.force = force
        self.say = say
        self.context = dict(context or {})  # recorded with every event (e.g. dtype, adapter)
        (self.out / "stages").mkdir(parents=True, exist_ok=True)

    def _event(self, name: str, status: str, outputs: Mapping[str, Any]) -> None:
        """One line per stage in `<out>/events.jsonl`: what ran, how long, and its throughput."""
        event = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "stage": name,
            "status": status,
            "seconds": outputs.get("seconds"),
            **{k: outputs[k] for k in ("tokens", "tokens_per_s") if k in outputs},
            **self.context,
        }
        with open(self.out / "events.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(event, default=str) + "\n")

    def _record(self, name: str) -> Path:
        return self.out / "stages" / f"{name}.json"

    def cached(self, stage: Stage) -> Mapping[str, Any] | None:
        try:
            record = json.loads(self._record(stage.name).read_text())
        except (OSError, ValueError):
            return None
        if record.get("key") != key_of(stage.inputs):
            return None
        files = [self.out / f for f in record.get("files", [])]
        return record["outputs"] if all(f.exists() for f in files) else None

    def run(self, stage: Stage) -> Mapping[str, Any]:
        if not self.force and (hit := self.cached(stage)) is not None:
            self.say(f"[{stage.name}] unchanged inputs: reusing {self._record(stage.name)}")
            self._event(stage.name, "cached", {})
            return hit
        self.say(f"[{stage.name}] running")
        start = time.perf_counter()
        outputs = dict(stage.run(self.out))
        outputs["seconds"] = round(time.perf_counter() - start, 1)
        files = [str(v) for k, v in outputs.items() if k.endswith("_file")]
        record = {
            "key": key_of(stage.inputs),
            "inputs": stage.inputs,
            "outputs": outputs,
            "files": files,
        }
        write_json(self._record(stage.name), record, default=str)
        self.say(f"[{stage.name}] done in {outputs['seconds']} s")
        self._event(stage.name, "ran", outputs)
        return outputs

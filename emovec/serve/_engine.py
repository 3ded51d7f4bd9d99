"""The one model, its queue, and the transcripts: what the web app calls.

A backend is not safe to run from two threads at once, so one worker thread runs every
generation, one at a time, in arrival order. Requests wait in a bounded queue (`Busy` when it is
full; the app answers 503 with retry advice). A generation runs a `Monitor` as the only thing
added to plain monitored generation: its event listener hands each event to the request's
stream (no extra forward pass, no second readout). Finished transcripts are kept (the last
`keep`) for download, and a reader that went away stops its generation at the next token.
"""

import asyncio
import itertools
import queue
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emovec._backend import Control, StepView
from emovec._site import Site
from emovec.monitor import Calibration, Monitor, default_site
from emovec.vectors import EmotionVectors

from ._requests import BadRequest, ChatRequest, build_rules, read_emotions
from ._transcript import FORMAT, MONITOR_EVENTS

Sink = Callable[[dict[str, Any]], None]


class Busy(RuntimeError):
    """The queue is full: try again later."""


class _Cancel:
    """An observer that stops the generation once its job is cancelled (the reader left)."""

    sites: tuple[Site, ...] = ()

    def __init__(self, job: "Job"):
        self.job = job

    def observe(self, view: StepView) -> Control | None:
        return Control(stop=True) if self.job.cancelled else None


@dataclass
class Job:
    """One queued chat: its request, the monitor it runs, and where its events go."""

    id: str
    request: ChatRequest
    sink: Sink
    monitor: Monitor | None = None
    cancelled: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)

    def emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if self.cancelled:
            return
        try:
            self.sink(event)
        except RuntimeError:  # the reader's event loop is gone (server shutting down)
            self.cancelled = True


def async_sink(loop: asyncio.AbstractEventLoop, box: "asyncio.Queue[dict[str, Any]]") -> Sink:
    """A sink that hands events from the worker thread to an asyncio queue on `loop`."""

    def put(event: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(box.put_nowait, event)

    return put


class Engine:
    """Hold one backend and one vector bundle; run monitored chats one at a time from a queue.

    Args:
        backend: A loaded backend (`emovec.load_backend()`).
        vectors: The emotion vectors (checked against the backend).
        calibration: Baselines for z-scores (None: raw readings and raw thresholds).
        site: Where the monitor reads (default: `default_site(vectors)`).
        defaults: The page's default settings (see `ChatRequest`).
        queue_size: Requests that may wait while one runs; more are refused (`Busy`).
        keep: Finished transcripts kept for download.
    """

    def __init__(
        self,
        backend: Any,
        vectors: EmotionVectors,
        calibration: Calibration | None = None,
        *,
        site: Site | None = None,
        defaults: dict[str, Any] | None = None,
        queue_size: int = 4,
        keep: int = 256,
    ):
        self.backend = backend
        self.vectors = vectors.check(backend)
        self.site = site or default_site(vectors)
        self.calibration = None if calibration is None else calibration.check(vectors)
        self.defaults = {
            "watch": [e for e in ("desperate", "afraid", "panicked") if e in vectors.emotions]
            or list(vectors.emotions[:3]),
            "threshold": 3.0,
            "sustain": 2,
            "action": "flag",
            "toward": "calm" if "calm" in vectors.emotions else vectors.emotions[0],
            "strength": 0.1,
            "max_new_tokens": 48,
            **(defaults or {}),
        }
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._running: Job | None = None
        self._transcripts: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.keep = keep
        self.served = 0
        self.failed = 0
        self._counter = itertools.count()
        self._thread = threading.Thread(target=self._work, name="emovec-serve", daemon=True)
        self._thread.start()

    # -- requests -----------------------------------------------------------------------------
    def prepare(self, request: ChatRequest, sink: Sink) -> Job:
        """A job for `request` (its monitor built now, so that bad settings fail before queueing)."""
        rules = build_rules(request, self.calibration is not None)
        emotions = read_emotions(request, rules, self.calibration)
        job_id = f"{next(self._counter):05d}-{uuid.uuid4().hex[:8]}"
        job = Job(job_id, request, sink)
        try:
            job.monitor = Monitor(
                self.vectors,
                emotions=emotions,
                sites=[self.site],
                calibration=self.calibration,
                rules=rules,
                on_event=job.emit,
                tokenizer=self.backend.tokenizer,
            )
        except (ValueError, KeyError) as err:
            raise BadRequest(400, f"Bad settings: {err}") from None
        return job

    def submit(self, job: Job) -> int:
        """Queue `job`; return how many run or wait before it. Raises `Busy` when full."""
        with self._lock:
            ahead = self._queue.qsize() + (self._running is not None)
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                raise Busy(
                    f"The model is busy: {self._queue.maxsize} requests are already waiting."
                    " Retry in a few seconds."
                ) from None
        return ahead

    def transcript(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._transcripts.get(job_id)

    def info(self) -> dict[str, Any]:
        cal = self.calibration
        return {
            "model_id": self.backend.model_id,
            "site": str(self.site),
            "emotions": list(self.vectors.emotions),
            "calibrated": cal is not None,
            "calibrated_emotions": [] if cal is None else list(cal.emotions),
            "defaults": self.defaults,
            "queue": {"waiting": self._queue.qsize(), "limit": self._queue.maxsize},
            "served": self.served,
            "failed": self.failed,
        }

    def close(self) -> None:
        """Stop the worker after the jobs already queued (blocks until it has)."""
        self._queue.put(None)
        self._thread.join()

    # -- the worker ---------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                self._running = job
            try:
                self._run(job)
            except Exception as err:  # the worker must outlive any one job
                self.failed += 1
                print(f"emovec serve: job {job.id} failed: {err}", file=sys.stderr)
            finally:
                with self._lock:
                    self._running = None

    def _run(self, job: Job) -> None:
        if job.cancelled or job.monitor is None:
            return
        job.emit({"type": "start", "id": job.id})
        request = job.request
        started = time.perf_counter()
        try:
            gen = self.backend.generate(
                [request.message],
                max_new_tokens=request.max_new_tokens,
                observers=[job.monitor, _Cancel(job)],
                chat=True,
            )
            job.monitor.finish(gen)
        except Exception as err:  # a failed generation must not take the server down
            self.failed += 1
            job.emit({"type": "error", "status": 500, "error": f"Generation failed: {err}"})
            return
        seconds = time.perf_counter() - started
        record = {
            "format": FORMAT,
            "id": job.id,
            "model_id": self.backend.model_id,
            "request": request.to_dict(),
            "reply": gen.texts[0],
            "stopped": "cancelled" if job.cancelled else gen.stopped[0],
            "seconds": round(seconds, 4),
            "events": [e for e in job.events if e["type"] in MONITOR_EVENTS],
        }
        with self._lock:
            self._transcripts[job.id] = record
            while len(self._transcripts) > self.keep:
                self._transcripts.popitem(last=False)
            self.served += 1
        job.emit({"type": "done", "id": job.id, "seconds": record["seconds"]})

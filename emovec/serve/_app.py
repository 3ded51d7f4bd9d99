"""The web app: one page, its static files, and a small JSON + server-sent-events API.

    GET  /                      the page (HTML, JS and CSS shipped with emovec; nothing fetched
                                from elsewhere)
    GET  /api/info              model, site, emotions, calibration, default settings, limits
    POST /api/chat              {"message": ..., settings}: a text/event-stream of `queued`,
                                `start`, the monitor's `header` / `token` / `end` events as they
                                are computed, then `done` (with the transcript id) or `error`
    GET  /api/transcripts/{id}  a finished chat with every reading (download)
    POST /api/transcripts/check a transcript file: validated, returned as read (reopen)

Errors are JSON `{"error": "..."}`: 400 for malformed JSON, unknown emotions and bad settings,
413 for an oversized message or file, 404 for an unknown transcript, 503 (with `Retry-After`)
when the queue is full.
"""

import asyncio
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ._engine import Busy, Engine, async_sink
from ._requests import BadRequest, Limits, parse_chat
from ._transcript import loads_transcript

RETRY_AFTER_S = 3
MAX_TRANSCRIPT_BYTES = 20_000_000


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


async def _body(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused (413) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"The {what} is {declared} bytes; the limit is {limit}.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"The {what} is over the limit of {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def create_app(engine: Engine, limits: Limits | None = None) -> Starlette:
    """The Starlette app serving `engine` (run it with uvicorn, or `emovec.serve.running`)."""
    limits = limits or Limits()
    static = StaticFiles(packages=[("emovec.serve", "static")])

    async def page(request: Request) -> Response:
        folder = static.all_directories[0]
        return FileResponse(f"{folder}/index.html", media_type="text/html")

    async def info(request: Request) -> Response:
        return JSONResponse({**engine.info(), "limits": limits.__dict__})

    async def chat(request: Request) -> Response:
        try:
            body = await _body(request, limits.max_body, "request")
            parsed = parse_chat(body, engine.vectors, engine.defaults, limits)
            box: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
            job = engine.prepare(parsed, async_sink(asyncio.get_running_loop(), box))
            ahead = engine.submit(job)
        except BadRequest as err:
            return _error(err.status, str(err))
        except Busy as err:
            return _error(503, str(err), **{"Retry-After": str(RETRY_AFTER_S)})

        async def events():
            finished = False
            try:
                yield _sse("queued", {"type": "queued", "id": job.id, "ahead": ahead})
                while not finished:
                    event = await box.get()
                    finished = event["type"] in ("done", "error")
                    yield _sse(event["type"], event)
            finally:
                if not finished:  # the reader went away: stop generating for it
                    job.cancelled = True

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    async def transcript(request: Request) -> Response:
        found = engine.transcript(request.path_params["job_id"])
        if found is None:
            return _error(404, "No such transcript (the server keeps the last ones only).")
        name = f"emovec-transcript-{found['id']}.json"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return JSONResponse(found, headers=headers)

    async def check(request: Request) -> Response:
        try:
            body = await _body(request, MAX_TRANSCRIPT_BYTES, "transcript file")
            return JSONResponse(loads_transcript(body))
        except BadRequest as err:
            return _error(err.status, str(err))
        except ValueError as err:
            return _error(400, str(err))

    routes = [
        Route("/", page),
        Route("/api/info", info),
        Route("/api/chat", chat, methods=["POST"]),
        Route("/api/transcripts/check", check, methods=["POST"]),
        Route("/api/transcripts/{job_id}", transcript),
        Mount("/static", static, name="static"),
    ]
    return Starlette(routes=routes)

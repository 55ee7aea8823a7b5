"""The FastAPI application: HTML pages (gallery, run page, offline API page) and the ``/v1`` REST API.

Every refused request is answered with a JSON body ``{"error": "..."}``: 400 a run id that can never be
inside the served folder, 401 a missing or wrong token, 404 an unknown run or file, 413 a request above a
limit (n, prompt, length, body, model size), 422 a bad value (unknown option, wrong type, bad label or
format), 429 too many sampling requests at once, 504 sampling that took longer than the timeout.
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ConfigError, DataError, GenlabError, RunError
from . import compare as C
from . import pages
from . import sampling as S
from .cache import ModelCache, ResultCache, TooLarge
from .limits import Limits
from .runs import ALLOWED_FILES, BadRunId, NotFound, RunIndex, check_id

STATIC = {"style.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"}
# report.html comes from a run folder: it may show its own inline styles and data: images, nothing else
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
# the server's own pages: only this server's scripts and styles (run-folder text is escaped besides)
PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


class SampleRequest(BaseModel):
    """What ``POST /v1/runs/{id}/samples`` takes."""

    model_config = ConfigDict(extra="forbid")
    n: int | None = Field(None, ge=1, description="number of samples (default: 64, or 1 for text)")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="random seed: the same seed gives the same samples")
    label: int | None = Field(None, ge=0, description="class label, for conditional models")
    options: dict[str, Any] = Field(default_factory=dict, description="the model's declared sampling options")
    format: str | None = Field(None, description="png, npz, csv, tsv, txt (text) or json; default from the Accept "
                                                 "header, else the data's usual format")
    stream: bool = Field(False, description="text models: send the text as it is produced (chunked text/plain, "
                                            "or server-sent events with Accept: text/event-stream)")


class Server:
    """State shared by the handlers: the run index, the model cache, the sampling pool and its queue."""

    def __init__(self, root, token: str | None, limits: Limits):
        root_path = Path(root).expanduser()
        if not root_path.is_dir():
            raise ConfigError(f"{root} is not a folder; give the folder that holds your runs")
        self.index = RunIndex(root_path, limits.max_runs)
        self.token = token
        self.limits = limits
        self.cache = ModelCache(limits.cache_models, limits.cache_bytes)
        self.comparisons = ResultCache(limits.compare_cache)
        self.pool = ThreadPoolExecutor(limits.workers, thread_name_prefix="genlab-sample")
        self._busy = 0
        self._busy_lock = threading.Lock()

    def take_slot(self) -> None:
        with self._busy_lock:
            if self._busy >= self.limits.queue:
                raise Busy(f"the server is busy: {self._busy} sampling requests are waiting or running "
                           f"(at most {self.limits.queue}); try again shortly")
            self._busy += 1

    def free_slot(self, *_) -> None:
        with self._busy_lock:
            self._busy -= 1

    def run_info(self, run_id: str) -> dict:
        from ..registry import get_model_class
        from ..training import checkpoint as ck

        row = dict(self.index.summary(run_id))
        path = self.index.resolve(run_id)
        cfg = ck.read_run_config(path)
        cls = get_model_class(cfg["model"])
        caps = set(cls.declared_capabilities())
        if (cfg.get("model_config") or {}).get("conditional"):
            caps.add("conditional")
        info = cfg.get("data_info") or {}
        row.update(
            config={k: cfg.get(k) for k in ("model_config", "train_config", "data_config", "seed", "versions")},
            capabilities=sorted(caps),
            num_classes=info.get("num_classes"),
            options=[_option_json(o) for o in cls.option_specs().values()],
            formats=S.formats_for(row["modality"]),
            limits={"max_n": self.limits.max_n, "max_prompt": self.limits.max_prompt,
                    "max_length": self.limits.max_length, "timeout_s": self.limits.timeout_s},
        )
        return row


class Busy(GenlabError):
    pass


class Timeout(GenlabError):
    pass


def _option_json(o) -> dict:
    return {"name": o.name, "type": o.type.__name__ if o.type else None, "default": o.default, "help": o.help,
            "choices": list(o.choices) if o.choices else None, "min": o.min, "max": o.max,
            "min_exclusive": o.min_exclusive, "describe": o.describe()}


STATUS = [(BadRunId, 400), (NotFound, 404), (TooLarge, 413), (S.Refused, 413), (Busy, 429), (Timeout, 504),
          (ConfigError, 422), (DataError, 422), (RunError, 404), (GenlabError, 422)]


def error(status: int, message: str, **headers) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def build_app(root, token: str | None = None, limits: Limits | None = None, **limit_overrides) -> FastAPI:
    import dataclasses

    limits = dataclasses.replace(limits or Limits(), **limit_overrides)
    srv = Server(root, token, limits)
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        srv.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="genlab serve", version="1", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url="/openapi.json",
                  description="Samples from the genlab runs of one folder. /docs is an offline page listing this "
                              "API from /openapi.json (Swagger UI, which loads from a CDN, is not used).")
    app.state.server = srv

    @app.exception_handler(GenlabError)
    async def _genlab_error(request: Request, exc: GenlabError):
        status = next(code for cls, code in STATUS if isinstance(exc, cls))
        return error(status, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return error(exc.status_code, str(exc.detail), **(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors()[:5]:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            parts.append(f"{where or 'body'}: {e.get('msg')}")
        return error(422, "; ".join(parts) or "invalid request")

    @app.middleware("http")
    async def _limit_body(request: Request, call_next):
        if request.method in ("POST", "PUT", "PATCH"):
            length = request.headers.get("content-length")
            if length is None or not length.isdigit():
                return error(411, "a request body needs a Content-Length header")
            if int(length) > limits.max_body:
                return error(413, f"the request body is {int(length):,} bytes, above the limit of {limits.max_body:,}")
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        return response

    def check_token(request: Request) -> None:
        if srv.token is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), srv.token.encode()):
            raise StarletteHTTPException(401, "missing or wrong token: send 'Authorization: Bearer <token>'",
                                         headers={"WWW-Authenticate": "Bearer"})

    # ------------------------------------------------------------------ HTML
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def gallery():
        return pages.gallery(srv.index.list(), str(srv.index.root))

    @app.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    async def compare(runs: str = "", n: int | None = None, seed: int = Query(0, ge=0, le=2**63 - 1)):
        summaries, result = await _comparison(srv, runs, n, seed)
        return pages.compare_page(summaries, result)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs():
        return pages.api_page()

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name not in STATIC:
            raise NotFound(f"no static file {name!r}")
        data = resources.files(__package__).joinpath("static", name).read_bytes()
        return Response(data, media_type=STATIC[name], headers={"Cache-Control": "max-age=300"})

    @app.get("/runs/{run_id:path}/curves.png", include_in_schema=False)
    def curves(run_id: str):
        from ..training import checkpoint as ck

        png = S.curves_png(ck.read_metrics(srv.index.resolve(run_id)))
        if png is None:
            raise NotFound(f"run {run_id!r} has no numeric metrics yet")
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-cache"})

    @app.get("/runs/{run_id:path}/files/{name}", include_in_schema=False)
    def run_file(run_id: str, name: str):
        path = srv.index.run_file(run_id, name)
        if path is None:
            raise NotFound(f"run {run_id!r} has no {name}")
        headers = {"Cache-Control": "no-cache"}
        if name == "report.html":
            headers["Content-Security-Policy"] = REPORT_CSP
        return Response(path.read_bytes(), media_type=ALLOWED_FILES[name], headers=headers)

    @app.get("/runs/{run_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def run_page(run_id: str):
        info = srv.run_info(run_id)
        snippet = None
        if info["has_text"]:
            p = srv.index.run_file(run_id, "samples.txt")
            snippet = p.read_text(encoding="utf-8", errors="replace")[:2000] if p else None
        return pages.run_page(info, snippet, token_needed=srv.token is not None)

    # ------------------------------------------------------------------ API
    api = APIRouter(prefix="/v1", dependencies=[Depends(check_token)])

    @api.get("/runs", summary="Every run under the served folder")
    def list_runs() -> dict:
        return {"runs": srv.index.list()}

    @api.post("/runs/{run_id:path}/samples", summary="Draw samples from a run's model",
              responses={200: {"content": {m: {} for m in S.MEDIA.values()}}})
    async def samples(run_id: str, body: SampleRequest, request: Request):
        run_dir = srv.index.resolve(run_id)
        ckpt = srv.index.checkpoint_inside(run_dir)
        loop = asyncio.get_running_loop()
        entry = await _in_pool(srv, loop, lambda: srv.cache.get(str(Path(run_id)), run_dir, ckpt))
        model = entry.model
        n, opts = S.check_request(model, body.n, body.label, body.options, limits)
        accept = request.headers.get("accept", "")
        if body.stream:
            if not model.has("stream"):
                raise ConfigError(f"model {model.name!r} cannot stream its samples; drop stream")
            sse = body.format == "sse" or (body.format is None and "text/event-stream" in accept)
            if body.format not in (None, "sse", "txt", "text"):
                raise ConfigError("a stream is sent as text (format txt) or server-sent events (format sse)")
            return _stream_response(srv, loop, entry, n, body, opts, sse)
        fmt = S.pick_format(model.info.modality, body.format, accept)

        def job():
            with entry.lock:
                return S.draw(model, n, body.seed, body.label, opts, fmt)

        data = await _in_pool(srv, loop, job)
        name = f"samples-seed{body.seed}.{fmt}"
        return Response(data, media_type=S.MEDIA[fmt], headers={"Content-Disposition": f'inline; filename="{name}"'})

    @api.get("/compare", summary="The leaderboard of runs on common samples, reference rows included "
                                 "(as `genlab compare` prints it)")
    async def compare_json(runs: str, n: int | None = None, seed: int = Query(0, ge=0, le=2**63 - 1)) -> dict:
        return C.as_json((await _comparison(srv, runs, n, seed))[1])

    @api.get("/runs/{run_id:path}", summary="One run: config, status, metrics, capabilities, sampling options")
    def get_run(run_id: str) -> dict:
        return srv.run_info(run_id)

    app.include_router(api)
    return app


async def _comparison(srv: Server, runs: str, n: int | None, seed: int) -> tuple[list[dict], dict]:
    """The runs' summaries and their comparison (genlab.api.compare), computed in the worker pool on first
    request and kept in the server's comparison cache, keyed by runs, n, seed and the runs' weight files."""
    ids = [check_id(r) for r in runs.split(",") if r]
    if not ids or len(ids) > 12:
        raise ConfigError(f"give 1 to 12 runs to compare, as /compare?runs=a,b (got {len(ids)})")
    n = min(srv.limits.compare_n, srv.limits.max_compare_n) if n is None else n
    if n < 1:
        raise ConfigError(f"n must be a positive number of samples per run, got {n}")
    if n > srv.limits.max_compare_n:
        raise S.Refused(f"n={n:,} samples per run is above this server's limit of {srv.limits.max_compare_n:,} "
                        "for a comparison; ask for fewer, or run genlab compare yourself")
    summaries = [srv.index.summary(r) for r in ids]
    C.check_kinds(summaries)
    dirs = [srv.index.resolve(r) for r in ids]
    key = (tuple(ids), n, seed, tuple(C.stamp(srv.index.checkpoint_inside(d), d) for d in dirs))
    fut = srv.comparisons.get(key, lambda: _submit(srv, lambda: C.compute(ids, dirs, n, seed)))
    try:
        return summaries, await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(fut)), srv.limits.timeout_s)
    except asyncio.TimeoutError:
        raise Timeout(f"the comparison takes longer than this server's limit of {srv.limits.timeout_s:g} s; it goes "
                      "on in the background: ask again later (or ask for a smaller n)") from None


def _submit(srv: Server, fn):
    """``fn()`` started in the worker pool, counted against the queue limit (a concurrent future)."""
    srv.take_slot()
    try:
        fut = srv.pool.submit(fn)
    except BaseException:
        srv.free_slot()
        raise
    fut.add_done_callback(srv.free_slot)
    return fut


async def _in_pool(srv: Server, loop, fn):
    """``fn()`` in the sampling pool, counted against the queue limit, answered 504 after the timeout (the
    worker thread finishes on its own; its slot is freed only then, so the pool stays bounded)."""
    srv.take_slot()
    try:
        fut = loop.run_in_executor(srv.pool, fn)
    except BaseException:
        srv.free_slot()
        raise
    fut.add_done_callback(srv.free_slot)
    try:
        return await asyncio.wait_for(asyncio.shield(fut), srv.limits.timeout_s)
    except asyncio.TimeoutError:
        raise Timeout(f"sampling took longer than this server's limit of {srv.limits.timeout_s:g} s; "
                      "ask for fewer samples or a shorter length") from None


def _stream_response(srv: Server, loop, entry, n: int, body: SampleRequest, opts: dict, sse: bool):
    """Text as the model produces it: a worker thread runs ``model.stream`` and hands each chunk to the event
    loop; the response stops early when the client goes away or the timeout passes."""
    queue: asyncio.Queue = asyncio.Queue()
    done = object()
    stop = threading.Event()

    def job():
        try:
            with entry.lock:
                for chunk in S.stream(entry.model, n, body.seed, body.label, opts):
                    if stop.is_set():
                        break
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
        except Exception as e:  # sent to the client as the stream's last line
            loop.call_soon_threadsafe(queue.put_nowait, e)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, done)

    srv.take_slot()
    try:
        fut = srv.pool.submit(job)
    except BaseException:
        srv.free_slot()
        raise
    fut.add_done_callback(srv.free_slot)

    async def chunks():
        deadline = loop.time() + srv.limits.timeout_s
        try:
            pending = None
            while True:
                try:
                    if pending is not None:
                        item, pending = pending, None
                    else:
                        item = await asyncio.wait_for(queue.get(), max(0.0, deadline - loop.time()))
                except asyncio.TimeoutError:
                    msg = f"stopped: sampling took longer than {srv.limits.timeout_s:g} s"
                    yield f"event: error\ndata: {json.dumps(msg)}\n\n" if sse else f"\n[{msg}]\n"
                    return
                if item is done:
                    if sse:
                        yield "event: end\ndata: {}\n\n"
                    return
                if isinstance(item, Exception):
                    msg = str(item) if isinstance(item, GenlabError) else f"{type(item).__name__}: {item}"
                    yield f"event: error\ndata: {json.dumps(msg)}\n\n" if sse else f"\n[error: {msg}]\n"
                    return
                while not sse and pending is None and not queue.empty():  # chunks that came meanwhile go together
                    nxt = queue.get_nowait()
                    if isinstance(nxt, str):
                        item += nxt
                    else:
                        pending = nxt
                yield f"data: {json.dumps(item)}\n\n" if sse else item
        finally:
            stop.set()

    media = "text/event-stream" if sse else "text/plain; charset=utf-8"
    return StreamingResponse(chunks(), media_type=media, headers={"Cache-Control": "no-cache"})

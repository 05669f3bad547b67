"""The FastAPI app: the library over HTTP, and the editor's page at ``/``.

Responses are shaped like the CLI's ``--json``; errors are ``{"error", "exit_code", "status"}``
with a status that fits (400 bad request, 401 no or wrong token, 404 unknown id, 409 conflict
such as an expired decision or a busy library, 413 upload too large, 422 invalid parameter),
never a traceback.

Security: the app binds 127.0.0.1 by default. Every write (verdicts, decisions, rewards) needs
``Authorization: Bearer TOKEN``; bound to any other address, every request does (the page's
images may send it as the ``media_ml_token`` cookie instead, which is accepted for reads only, so
a cross-site form cannot write). Without ``--token`` / ``MEDIA_ML_TOKEN`` a random token is made
at start and printed with the page's URL. Uploads are capped in bytes while they stream and in
pixels before decoding; ids are bounded integers; files are found by id in the catalog, never
by a path from a request; CORS is off unless origins are configured.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.
import asyncio
import ipaddress
import logging
import math
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from media_ml.catalog import KeyframeFilter
from media_ml.errors import (
    DecisionExpiredError,
    LibraryError,
    MediaMLError,
    ModelLoadError,
    NotFoundError,
    PolicyStateError,
    SourceChangedError,
    UsageError,
)
from media_ml.validate import INT64_MAX

log = logging.getLogger(__name__)

Id = Annotated[int, PathParam(ge=1, le=INT64_MAX)]
Finite = Annotated[float | None, Query(allow_inf_nan=False, ge=-1e9, le=1e9)]
STATIC = Path(__file__).resolve().parent / "static"
MAX_PAGE = 200          # hits per page
MAX_DEPTH = 2000        # offset + k of a search (infinite scroll stops there)
MAX_BODY_BYTES = 65536  # JSON bodies
TOKEN_COOKIE = "media_ml_token"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServiceConfig:
    """How the service runs (validated on construction)."""

    library: Path
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    cors_origins: tuple[str, ...] = ()
    scheduler: str | None = None
    max_upload_bytes: int = 10 * 2**20
    max_upload_pixels: int = 40_000_000
    contexts_file: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.host or len(self.host) > 253:
            raise UsageError(f"--host must be a host name or address, got {self.host!r}")
        if isinstance(self.port, bool) or not 0 <= self.port <= 65535:
            raise UsageError(f"--port must be in 0..65535, got {self.port!r}")
        if self.token is not None and (len(self.token) < 16 or len(self.token) > 256
                                       or not self.token.isprintable() or " " in self.token):
            raise UsageError("the token must be 16 to 256 printable characters without spaces")
        if not _loopback(self.host) and not self.token:
            raise UsageError(f"serving on {self.host} (not this machine only) needs a token: "
                             "--token T or MEDIA_ML_TOKEN")
        for origin in self.cors_origins:
            if not origin.startswith(("http://", "https://")) or len(origin) > 300:
                raise UsageError(f"--cors-origin must be an http(s) origin, got {origin!r}")
        if not 1 <= self.max_upload_bytes <= 200 * 2**20:
            raise UsageError("max_upload_bytes must be in 1..200 MiB")
        if not 1 <= self.max_upload_pixels <= 200_000_000:
            raise UsageError("max_upload_pixels must be in 1..200,000,000")

    @property
    def loopback(self) -> bool:
        return _loopback(self.host)


class HTTPFailure(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _status(e: MediaMLError) -> int:
    if isinstance(e, NotFoundError):
        return 404
    if isinstance(e, DecisionExpiredError | PolicyStateError | SourceChangedError):
        return 409
    if isinstance(e, UsageError):
        text = str(e)
        return 404 if text.startswith(("unknown video id", "unknown keyframe id",
                                       "unknown candidate id", "unknown decision id")) else 400
    if isinstance(e, ModelLoadError):
        return 503
    if isinstance(e, LibraryError):
        return 409 if "being written" in str(e) or "locked" in str(e) else 500
    return 500


def create_app(config: ServiceConfig) -> Any:
    """The FastAPI app serving ``config.library``."""
    from media_ml.search import search as run_search
    from media_ml.service.backend import Backend, decode_upload
    from media_ml.service.metrics import Metrics

    token = config.token or secrets.token_urlsafe(24)
    backend = Backend(Path(config.library), config.scheduler)

    def state() -> dict[str, float]:
        lib = backend.lib()
        stats = backend.shared.personalizer.log.stats()
        return {"index_vectors": float(lib.catalog.vector_count()),
                "videos": float(len(lib.videos())),
                "logged_decisions": float(stats["decisions"]),
                "logged_rewards": float(stats["rewards"])}

    metrics = Metrics(state)
    app = FastAPI(title="media-ml", version="0.1.0",
                  description="Search, browse, suggest and judge artwork; choose and reward.")
    app.state.token = token
    app.state.backend = backend
    app.state.config = config

    @app.on_event("startup")
    async def _warm() -> None:
        model = await asyncio.to_thread(backend.warm)
        log.info("model %s loaded; serving %s", model, config.library)

    @app.on_event("shutdown")
    async def _close() -> None:
        backend.close()

    def error(status: int, message: str) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"error": message, "exit_code": 2 if status < 500 else 1,
                             "status": status}, status_code=status, headers=headers)

    @app.exception_handler(MediaMLError)
    async def _domain(_: Request, e: MediaMLError) -> JSONResponse:
        return error(_status(e), str(e))

    @app.exception_handler(HTTPFailure)
    async def _failure(_: Request, e: HTTPFailure) -> JSONResponse:
        return error(e.status, str(e))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        parts = []
        for err in e.errors()[:5]:
            where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "path",
                                                                            "body"))
            parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
        return error(422, "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return error(e.status_code, str(e.detail))

    @app.exception_handler(Exception)
    async def _bug(_: Request, e: Exception) -> JSONResponse:
        log.exception("internal error")
        return error(500, f"internal error ({type(e).__name__}); see the server log")

    def authorised(headers: dict[str, str], write: bool) -> bool:
        header = headers.get("authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not given and not write:
            from http.cookies import CookieError, SimpleCookie

            try:
                jar = SimpleCookie(headers.get("cookie", ""))
            except CookieError:
                jar = SimpleCookie()
            given = jar[TOKEN_COOKIE].value if TOKEN_COOKIE in jar else ""
        return bool(given) and secrets.compare_digest(given.encode(), token.encode())

    def guard(scope: dict[str, Any]) -> tuple[int, str] | None:
        """The refusal of a request before it reaches a route (413 or 401), or None."""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        path, method = scope["path"], scope["method"]
        # An image search is a POST (it carries the image) but reads; everything else posted
        # writes (verdicts, decisions, rewards).
        write = method not in ("GET", "HEAD", "OPTIONS") and path != "/api/search/image"
        public = path in ("/", "/api/health") or path.startswith("/static/") or (
            path in ("/docs", "/openapi.json") and config.loopback)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit()
                                   or int(length) > config.max_upload_bytes):
            return 413, f"request body larger than {config.max_upload_bytes:,} bytes"
        if method == "OPTIONS" and config.cors_origins:
            return None
        if (write or not config.loopback) and not public and not authorised(headers, write):
            return 401, "this needs the service's token: Authorization: Bearer TOKEN"
        return None

    class Guard:
        """Pure ASGI middleware (no per-request task, unlike ``@app.middleware``): refuse
        early, time every request, count it by route template and status."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await self.inner(scope, receive, send)
                return
            start = time.perf_counter()
            status = [500]

            async def sending(message: Any) -> None:
                if message["type"] == "http.response.start":
                    status[0] = message["status"]
                await send(message)

            refusal = guard(scope)
            try:
                if refusal is not None:
                    await error(*refusal)(scope, receive, sending)
                else:
                    await self.inner(scope, receive, sending)
            finally:
                route = scope.get("route")
                metrics.observe(scope["method"], getattr(route, "path", "unmatched"),
                                status[0], time.perf_counter() - start)

    app.add_middleware(Guard)  # inside CORS, so refusals carry CORS headers too
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                           allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    async def read_body(request: Request, limit: int) -> bytes:
        """The request body, refused (413) as soon as it passes ``limit`` bytes."""
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPFailure(413, f"request body larger than {limit:,} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def json_body(request: Request) -> dict[str, Any]:
        import json

        raw = await read_body(request, MAX_BODY_BYTES)

        def no_constant(c: str) -> Any:
            raise HTTPFailure(422, f"{c} is not a finite number")

        try:
            doc = json.loads(raw or b"{}", parse_constant=no_constant)
        except ValueError as e:
            raise HTTPFailure(400, f"the body must be JSON: {e}") from e
        if not isinstance(doc, dict):
            raise HTTPFailure(422, "the body must be a JSON object")
        return doc


    def thumb_url(keyframe_id: int) -> str:
        return f"/api/keyframes/{keyframe_id}/thumbnail.jpg"

    def kf_json(kf: Any, titles: dict[int, str]) -> dict[str, Any]:
        d = kf.as_json()
        d["thumbnail"] = thumb_url(kf.id)
        d["title"] = titles.get(kf.video_id, "")
        return d

    def titles(lib: Any, ids: Any) -> dict[int, str]:
        return {i: Path(p).name for i, p in lib.catalog.video_paths(list(ids)).items()}

    def need_video(lib: Any, video_id: int) -> Any:
        v = lib.catalog.video(video_id)
        if v is None:
            raise NotFoundError(f"unknown video id {video_id}")
        return v

    def keyframe_filter(video: int | None, transition: str | None, faces_min: int | None,
                        sharpness_min: float | None, sharpness_max: float | None,
                        exposure_min: float | None, exposure_max: float | None
                        ) -> KeyframeFilter:
        if transition is not None and transition not in ("cut", "dissolve", "fade", "wipe",
                                                         "none"):
            raise HTTPFailure(422, "transition: one of cut, dissolve, fade, wipe, none")
        return KeyframeFilter(video, transition, faces_min, sharpness_min, sharpness_max,
                              exposure_min, exposure_max)

    # -- pages and health ----------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        files = {p.name: p for p in STATIC.iterdir() if p.is_file()}
        if name not in files:  # only the app's own files, by exact name
            raise NotFoundError(f"no static file {name!r}")
        return FileResponse(files[name], headers={"Cache-Control": "no-cache"})

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        lib = backend.lib()
        st = lib.catalog.state()
        model = lib.catalog.model()
        return {"status": "ok", "library_id": st["library_id"],
                "generation": st["generation"], "model": model[0] if model else None,
                "videos": len(lib.videos())}

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        body, kind = metrics.render()
        return Response(body, media_type=kind)

    # -- browse --------------------------------------------------------------------------------

    @app.get("/api/contexts")
    def contexts() -> dict[str, Any]:
        from media_ml.ranking.contexts import BUILTIN, load_contexts

        known = dict(BUILTIN)
        if config.contexts_file is not None:
            known.update(load_contexts(config.contexts_file))
        return {"contexts": [{"name": c.name, "aspect": list(c.aspect), "device": c.device,
                              "surface": c.surface} for c in known.values()]}

    @app.get("/api/videos")
    def videos() -> dict[str, Any]:
        return {"videos": [{**v.as_json(), "title": Path(v.path).name}
                           for v in backend.lib().videos()]}

    @app.get("/api/videos/{video_id}")
    def video(video_id: Id) -> dict[str, Any]:
        v = need_video(backend.lib(), video_id)
        return {**v.as_json(), "title": Path(v.path).name}

    @app.get("/api/videos/{video_id}/shots")
    def shots(video_id: Id) -> dict[str, Any]:
        lib = backend.lib()
        v = need_video(lib, video_id)
        return {"video": {"id": v.id, "path": v.path, "duration_s": v.duration_s,
                          "fps": v.fps, "frames": v.frames},
                "shots": [s.as_json() for s in lib.shots(video_id)]}

    @app.get("/api/videos/{video_id}/keyframes")
    def keyframes_of(video_id: Id) -> dict[str, Any]:
        lib = backend.lib()
        need_video(lib, video_id)
        kfs = lib.keyframes(video_id)
        names = titles(lib, [video_id])
        return {"video_id": video_id,
                "keyframes": [kf_json(k, names) for k in kfs]}

    @app.get("/api/keyframes")
    def browse(offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
               k: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 48,
               video: Annotated[int | None, Query(ge=1, le=INT64_MAX)] = None,
               transition: str | None = None,
               faces_min: Annotated[int | None, Query(ge=0, le=1000)] = None,
               sharpness_min: Finite = None, sharpness_max: Finite = None,
               exposure_min: Finite = None, exposure_max: Finite = None) -> dict[str, Any]:
        lib = backend.lib()
        where = keyframe_filter(video, transition, faces_min, sharpness_min, sharpness_max,
                                exposure_min, exposure_max)
        rows = lib.catalog.browse_keyframes(where, offset, k)
        names = titles(lib, {r.video_id for r in rows})
        return {"offset": offset, "keyframes": [kf_json(r, names) for r in rows],
                "more": len(rows) == k}

    @app.get("/api/keyframes/{keyframe_id}/thumbnail.jpg")
    def thumbnail(keyframe_id: Id) -> Response:
        return Response(backend.thumbnail(keyframe_id), media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/candidates/{candidate_id}/crop.jpg")
    def crop(candidate_id: Id) -> Response:
        return Response(backend.crop(candidate_id), media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600"})

    # -- search --------------------------------------------------------------------------------

    def searched(lib: Any, where: KeyframeFilter, offset: int, k: int,
                 **query: Any) -> dict[str, Any]:
        if offset + k > MAX_DEPTH:
            raise HTTPFailure(422, f"offset + k must be at most {MAX_DEPTH}")
        # One more than the page, to know whether there is a next one.
        depth = offset + k + 1 if where.empty else min(MAX_DEPTH * 4, (offset + k) * 4 + 1)
        hits = run_search(lib.catalog, backend.embedder(lib), k=depth, index=lib.index,
                          video=where.video_id, **query)
        if not where.empty:
            keep = lib.catalog.matching_keyframes([h.keyframe_id for h in hits], where)
            hits = [h for h in hits if h.keyframe_id in keep]
        page = hits[offset:offset + k]
        rows = lib.catalog.keyframes_by_id([h.keyframe_id for h in page])
        names = titles(lib, {h.video_id for h in page})
        model = lib.catalog.model()
        out = []
        for h in page:
            d = h.as_json()
            d["thumbnail"] = thumb_url(h.keyframe_id)
            d["title"] = names.get(h.video_id, "")
            kf = rows.get(h.keyframe_id)
            if kf is not None:
                s = kf.signals
                d["signals"] = {"sharpness": s.sharpness, "exposure": s.exposure,
                                "faces": s.faces}
            out.append(d)
        return {"model": model[0] if model else None, "offset": offset, "hits": out,
                "more": len(hits) > offset + k}

    @app.get("/api/search")
    async def search(text: Annotated[str | None, Query(max_length=2000)] = None,
               keyframe: Annotated[int | None, Query(ge=1, le=INT64_MAX)] = None,
               k: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 24,
               offset: Annotated[int, Query(ge=0, le=MAX_DEPTH)] = 0,
               video: Annotated[int | None, Query(ge=1, le=INT64_MAX)] = None,
               transition: str | None = None,
               faces_min: Annotated[int | None, Query(ge=0, le=1000)] = None,
               sharpness_min: Finite = None, sharpness_max: Finite = None,
               exposure_min: Finite = None, exposure_max: Finite = None) -> JSONResponse:
        if (text is None) == (keyframe is None):
            raise HTTPFailure(422, "give exactly one of text or keyframe (or POST an image to "
                                   "/api/search/image)")
        where = keyframe_filter(video, transition, faces_min, sharpness_min, sharpness_max,
                                exposure_min, exposure_max)
        if keyframe is not None and where.empty:
            # About a millisecond of work: answered on the event loop, without a thread hop.
            return JSONResponse(searched(backend.lib(), where, offset, k, keyframe=keyframe))
        return JSONResponse(await asyncio.to_thread(
            lambda: searched(backend.lib(), where, offset, k, text=text, keyframe=keyframe)))

    @app.post("/api/search/image")
    async def search_image(request: Request,
                           k: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 24,
                           offset: Annotated[int, Query(ge=0, le=MAX_DEPTH)] = 0,
                           video: Annotated[int | None, Query(ge=1, le=INT64_MAX)] = None
                           ) -> dict[str, Any]:
        """Search by an image sent as the request body (any format PIL reads)."""
        data = await read_body(request, config.max_upload_bytes)
        rgb = await asyncio.to_thread(decode_upload, data, config.max_upload_pixels)
        where = KeyframeFilter(video_id=video)
        return await asyncio.to_thread(lambda: searched(backend.lib(), where, offset, k,
                                                        image=rgb))

    @app.get("/api/duplicates")
    def duplicates(threshold: Annotated[float, Query(gt=0, le=1, allow_inf_nan=False)] = 0.95
                   ) -> dict[str, Any]:
        return {"groups": backend.lib().duplicates(threshold)}

    # -- suggest and judge ---------------------------------------------------------------------

    @app.get("/api/videos/{video_id}/suggest")
    async def suggest(video_id: Id, context: Annotated[str, Query(min_length=1, max_length=64)],
                      k: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 10) -> JSONResponse:
        """A remembered answer (the common case, well under a millisecond) is given on the
        event loop: a thread hop and the GIL hand-offs it brings cost more than that under
        load. A new one may embed the context's prompts and write candidates, which can wait
        for another process's write lock: that goes to a thread, so it never stalls the loop."""
        from media_ml.validate import safe_name

        lib = backend.lib()
        need_video(lib, video_id)
        name = safe_name(context, "context")
        sugg = lib.suggested(video_id, name, k=k, contexts_file=config.contexts_file)
        if sugg is None:  # computed with the worker thread's own library
            sugg = await asyncio.to_thread(lambda: backend.lib().suggest(
                video_id, name, k, config.contexts_file))
        doc = sugg.as_json()
        for c in doc["candidates"]:
            c["thumbnail"] = thumb_url(c["keyframe_id"])
            c["image"] = f"/api/candidates/{c['candidate_id']}/crop.jpg"
        doc["aspect"] = list(sugg.context.aspect)
        return JSONResponse(doc)

    @app.post("/api/feedback")
    async def feedback(request: Request) -> dict[str, Any]:
        from media_ml.validate import bounded_text, record_id

        doc = await json_body(request)
        cid = record_id(doc.get("candidate_id"), "candidate_id")
        verdict = doc.get("verdict")
        if verdict not in ("accept", "reject"):
            raise HTTPFailure(422, f"verdict must be accept or reject, got {verdict!r}")
        note = doc.get("note")
        if note is not None:
            note = bounded_text(note, "note", max_chars=10_000, allow_empty=True)
        rec = await asyncio.to_thread(backend.lib().feedback, cid, verdict, note)
        return rec.as_json()

    @app.get("/api/verdicts")
    def verdicts(video: Annotated[int | None, Query(ge=1, le=INT64_MAX)] = None
                 ) -> dict[str, Any]:
        return {"verdicts": [v.as_json() for v in backend.lib().verdicts(video)]}

    # -- decisions -----------------------------------------------------------------------------

    @app.post("/api/choose")
    async def choose(request: Request) -> dict[str, Any]:
        from media_ml.validate import record_id, safe_name

        doc = await json_body(request)
        vid = record_id(doc.get("video_id"), "video_id")
        ctx = safe_name(doc.get("context"), "context")
        member = doc.get("member") or {}
        d = backend.shared.choose(vid, ctx, member, config.contexts_file)  # ~0.5 ms: inline
        metrics.decisions.labels(d.mode).inc()
        out = d.as_json()
        out["candidate"] = {**out["candidate"], "thumbnail": thumb_url(d.candidate["keyframe_id"]),
                            "image": f"/api/candidates/{d.candidate_id}/crop.jpg"}
        return out

    @app.post("/api/reward")
    async def reward(request: Request) -> dict[str, Any]:
        doc = await json_body(request)
        value = doc.get("value")
        if isinstance(value, float) and not math.isfinite(value):
            raise HTTPFailure(422, "value must be a finite number")
        rec = await asyncio.to_thread(backend.shared.reward, doc.get("decision_id"), value)
        metrics.rewards.inc()
        return rec.as_json()

    @app.get("/api/decisions")
    def decisions(after: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
        import itertools

        p = backend.shared.personalizer
        rows = list(itertools.islice(p.decisions(after=after), limit))
        return {"decisions": [r.as_json() for r in rows], "stats": p.log.stats()}

    @app.post("/api/token-check")
    def token_check() -> dict[str, Any]:
        """201-free way for the page to check a token (a write that changes nothing)."""
        return {"ok": True}

    return app


def serve(config: ServiceConfig, log_level: str = "warning",
          on_start: Callable[[dict[str, str]], None] | None = None) -> None:
    """Run the app with uvicorn until interrupted. ``on_start`` gets the addresses people need
    (``url``, ``page`` with the token in its fragment, ``docs``, ``metrics``, and
    ``random_token`` when none was configured) before serving starts; the CLI prints them."""
    import uvicorn

    app = create_app(config)
    shown = config.host if ":" not in config.host else f"[{config.host}]"
    url = f"http://{shown}:{config.port}/"
    if on_start is not None:
        on_start({"url": url, "page": f"{url}#token={app.state.token}", "docs": f"{url}docs",
                  "metrics": f"{url}metrics",
                  **({"random_token": "yes"} if config.token is None else {})})
    uvicorn.run(app, host=config.host, port=config.port, log_level=log_level,
                access_log=False, proxy_headers=bool(os.environ.get("MEDIA_ML_PROXY_HEADERS")))

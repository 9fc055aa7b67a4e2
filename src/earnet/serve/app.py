"""The Starlette application: the page, ``/api/segment``, ``/api/models``, ``/healthz``.

Every error is JSON ``{"error": message, "status": code}``. Requests are admitted into
the bounded pool before their body is read; bodies are read into memory up to the
upload limit and decoded in the worker thread, so the event loop only moves bytes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from earnet.exceptions import EarnetError
from earnet.serve.models import ModelCache, UnknownChoice
from earnet.serve.payload import EXTRAS, segmentation_payload
from earnet.serve.pool import Busy, InferencePool, RequestTimeout
from earnet.serve.settings import ServeConfig
from earnet.serve.upload import UploadError, decode_photograph, safe_name

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
PAGE_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
               "img-src data: blob:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; "
               "base-uri 'none'")
FORM_FIELDS = ("model", "tta", "threshold", "include", "av")


class TooLarge(Exception):
    """The request body passed the upload limit."""


class BadRequest(Exception):
    """A request the server cannot act on (400), with the reason."""


def error(status: int, message: str, headers: dict[str, str] | None = None, name: str | None = None) -> JSONResponse:
    """A JSON error answer (``name``: the photograph's, when the problem is with it)."""
    body = {"error": message, "status": status, **({"name": name} if name else {})}
    return JSONResponse(body, status_code=status, headers=headers)


def _capped(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises :class:`TooLarge` once the body passes ``limit`` bytes."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise TooLarge
        return message

    return wrapped


class InMemoryMultiPartParser(MultiPartParser):
    """Starlette's multipart parser, with uploads kept in memory (the body is capped anyway)."""

    spool_max_size = 1 << 62


class SegmentService:
    """The state behind the routes: config, models and pool."""

    def __init__(self, config: ServeConfig, models: ModelCache) -> None:
        self.config = config
        self.models = models
        self.pool = InferencePool(config.workers, config.queue, config.timeout_s)

    async def segment(self, request: Request) -> Response:
        """``POST /api/segment``: multipart ``image`` plus optional ``model``, ``tta``, ``threshold``, ``include``,
        ``av``."""
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.config.max_upload_bytes:
            return self._too_large()
        try:
            slot = self.pool.reserve()
        except Busy as busy:
            return error(503, str(busy), {"Retry-After": str(busy.retry_after)})
        submitted = False
        name = "upload"
        try:
            form = await self._form(request)
            try:
                upload = form.get("image")
                if not isinstance(upload, UploadFile):
                    raise BadRequest("no photograph: send it as the multipart file field 'image'")
                fields = {key: form.get(key) for key in FORM_FIELDS}
                if any(value is not None and not isinstance(value, str) for value in fields.values()):
                    raise BadRequest(f"the fields {', '.join(FORM_FIELDS)} must be text, not files")
                model, tta = self.models.check(fields["model"], fields["tta"])
                threshold = _parse_threshold(fields["threshold"])
                include = _parse_include(fields["include"])
                av = _parse_flag("av", fields["av"])
                if av:
                    self.models.check_av(model)
                data = upload.file.read()
                name = safe_name(upload.filename)
            finally:
                await form.close()
            submitted = True
            answer = await self.pool.run(slot, lambda: self._work(data, model, tta, threshold, include, av))
        except TooLarge:
            return self._too_large()
        except MultiPartException as problem:
            return error(400, f"malformed multipart form ({problem.message})")
        except (UnknownChoice, BadRequest) as problem:
            return error(400, str(problem))
        except UploadError as problem:
            return error(problem.status, f"{name}: {problem.message}", name=name)
        except EarnetError as problem:  # the segmenter's verdict on the photograph (too small, no FOV)
            return error(400, f"{name}: {problem}", name=name)
        except RequestTimeout as problem:
            return error(504, str(problem))
        finally:
            if not submitted:
                slot.release()
        answer["name"] = name
        return JSONResponse(answer)

    async def _form(self, request: Request) -> Any:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise BadRequest("send the photograph as multipart/form-data (field 'image')")
        stream = Request(request.scope, _capped(request.receive, self.config.max_upload_bytes)).stream()
        parser = InMemoryMultiPartParser(request.headers, stream, max_files=1, max_fields=len(FORM_FIELDS),
                                         max_part_size=1024)
        return await parser.parse()

    def _work(self, data: bytes, model: str, tta: str, threshold: float | None,
              include: frozenset[str], av: bool = False) -> dict[str, Any]:
        """Decode, segment and encode one photograph (runs in a worker thread)."""
        start = time.perf_counter()
        image = decode_photograph(data, self.config.max_pixels)
        decoded = time.perf_counter()
        segmenter = self.models.get(model, tta)
        av_segmenter = self.models.get_av(model, tta) if av else None
        loaded = time.perf_counter()
        model_threshold = float(segmenter.threshold)
        chosen = model_threshold if threshold is None else threshold
        av_result = None
        if av_segmenter is not None:
            av_result = av_segmenter.segment(image, threshold=threshold)
            result = av_result.vessels
        else:
            result = segmenter.segment(image)
        segmented = time.perf_counter()
        answer = segmentation_payload(image, result, chosen, model_threshold, include, av_result)
        encoded = time.perf_counter()
        answer.update({
            "model": model,
            "tta": tta,
            "av": av,
            "error_attention": result.error_attention is not None,
            "seconds": {"decode": decoded - start, "load_model": loaded - decoded, "segment": segmented - loaded,
                        "encode": encoded - segmented, "total": encoded - start},
        })
        return answer

    def _too_large(self) -> JSONResponse:
        limit = self.config.max_upload_bytes / (1024 * 1024)
        return error(413, f"upload larger than the limit of {limit:g} MiB")

    async def models_route(self, request: Request) -> Response:
        """``GET /api/models``."""
        return JSONResponse({"default": self.models.default, "models": self.models.describe(),
                             "tta": ["none", "flip", "ms"], "limits": self._limits()})

    async def health(self, request: Request) -> Response:
        """``GET /healthz``: liveness and load."""
        return JSONResponse({"status": "ok", "models_loaded": self.models.loaded(), "active": self.pool.active,
                             "capacity": self.pool.capacity, "workers": self.pool.workers,
                             "completed": self.pool.completed})

    async def page(self, request: Request) -> Response:
        """``GET /``: the single-file web page."""
        html = files("earnet.serve").joinpath("static/index.html").read_bytes()
        return Response(html, media_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": PAGE_POLICY})

    def _limits(self) -> dict[str, Any]:
        return {"max_upload_bytes": self.config.max_upload_bytes, "max_pixels": self.config.max_pixels,
                "timeout_s": self.config.timeout_s, "workers": self.config.workers, "queue": self.config.queue}


def _parse_threshold(text: str | None) -> float | None:
    if text in (None, "", "auto"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"threshold must be a number in (0, 1] or 'auto', got {text!r}") from None
    if not 0 < value <= 1:
        raise BadRequest(f"threshold must be in (0, 1], got {value}")
    return value


def _parse_flag(name: str, text: str | None) -> bool:
    value = (text or "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise BadRequest(f"{name} must be true or false, got {text!r}")


def _parse_include(text: str | None) -> frozenset[str]:
    parts = frozenset(part.strip() for part in (text or "").split(",") if part.strip())
    unknown = parts - set(EXTRAS)
    if unknown:
        raise BadRequest(f"unknown include {', '.join(sorted(unknown))}; valid: {', '.join(EXTRAS)}")
    return parts


class GuardMiddleware:
    """Security headers on every answer; cross-origin POSTs refused (there is no CORS)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        origin = headers.get("origin")
        if scope["method"] not in ("GET", "HEAD", "OPTIONS") and origin and origin != "null" \
                and urlsplit(origin).netloc != headers.get("host"):
            response = error(403, f"cross-origin request from {origin} refused")
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {key.lower() for key, _ in message.get("headers", [])}
                extra = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                         if k.lower().encode() not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _http_error(request: Request, problem: Exception) -> Response:
    assert isinstance(problem, HTTPException)
    return error(problem.status_code, problem.detail, dict(problem.headers or {}))


def _lifespan(service: SegmentService):  # noqa: ANN202
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        service.pool.shutdown()

    return lifespan


def create_app(config: ServeConfig | None = None, models: ModelCache | None = None) -> Starlette:
    """The web application; the default model is loaded now, so the first photograph is fast.

    Args:
        config: limits, workers, default model.
        models: a model cache to share (tests); by default one is made from ``config``.
    """
    config = config or ServeConfig()
    models = models or ModelCache(config.model, config.device)
    models.get(models.default)
    service = SegmentService(config, models)
    app = Starlette(
        routes=[
            Route("/", service.page, methods=["GET"]),
            Route("/healthz", service.health, methods=["GET"]),
            Route("/api/models", service.models_route, methods=["GET"]),
            Route("/api/segment", service.segment, methods=["POST"]),
        ],
        middleware=[Middleware(GuardMiddleware)],
        exception_handlers={HTTPException: _http_error},
        lifespan=_lifespan(service),
    )
    app.state.service = service
    return app

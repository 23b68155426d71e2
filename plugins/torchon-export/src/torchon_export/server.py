"""The HTTP app of ``torchon serve``: a bundle's ``predict`` behind FastAPI, in the wire format of :mod:`wire`.

Routes: ``POST /v1/predict``, ``GET /v1/metadata`` (both behind the bearer token when one is set) and
``GET /health`` (always open, for load balancers). Every error is a JSON body (:func:`wire.encode_error`):
401 missing or wrong token, 400 malformed JSON or request, 413 body over the limit, 415 not JSON, 422 inputs
``predict`` rejects (it raised ``ValueError``, ``TypeError``, ``KeyError`` or ``IndexError``: wrong shapes, wrong
types), 500 anything else, with a request id and never a traceback (that goes to the server's log).

How a request's ``inputs`` reach ``predict`` follows ``predict``'s signature (:func:`calling_convention`, chosen
once when the app is made): ``predict(inputs)`` for one positional parameter, ``predict(**inputs)`` for keywords.

This module imports FastAPI; only ``torchon serve`` (and code serving a model itself) imports it.
"""

from __future__ import annotations

import hmac
import inspect
import json
import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from torchon_export import wire

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "CallingConvention",
    "LoadedBundle",
    "calling_convention",
    "create_app",
    "load_for_serving",
]

logger = logging.getLogger("torchon.serve")

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
_BAD_INPUT = (ValueError, TypeError, KeyError, IndexError)


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@dataclass(frozen=True)
class CallingConvention:
    """How a request's decoded ``inputs`` are passed to ``predict``; see :func:`calling_convention`.

    ``style``: ``"positional"`` (``predict(inputs)``), ``"keywords"`` (``predict(**inputs)``, inputs a JSON object)
    or ``"none"`` (``predict()``, inputs null or ``{}``). ``parameters``: ``predict``'s named parameters,
    ``required`` those without a default, ``any_keywords`` whether it also takes ``**kwargs``.
    """

    predict: Callable[..., Any]
    style: Literal["positional", "keywords", "none"]
    parameters: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    any_keywords: bool = False

    def arguments(self, inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The ``(args, kwargs)`` of ``predict`` for ``inputs``; a 422 :class:`wire.WireError` when they cannot be."""
        if self.style == "positional":
            return (inputs,), {}
        if self.style == "none":
            if inputs is None or inputs == {}:
                return (), {}
            raise wire.WireError(422, "bad_input", 'predict() takes no inputs: send "inputs": null (or {})')
        if not isinstance(inputs, dict):
            names = ", ".join([*self.parameters, *(["**kwargs"] if self.any_keywords else [])])
            raise wire.WireError(
                422,
                "bad_input",
                f"predict() takes keywords ({names}), not a JSON {_json_kind(inputs)}: "
                f'send "inputs" as a JSON object of them, e.g. {{"inputs": {{{self._example()}}}}}',
            )
        return (), inputs

    def __call__(self, inputs: Any) -> Any:
        """``predict`` called with ``inputs`` as this convention passes them."""
        args, kwargs = self.arguments(inputs)
        return self.predict(*args, **kwargs)

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/metadata`` says under ``"inputs"``."""
        return {
            "style": self.style,
            "parameters": list(self.parameters),
            "required": list(self.required),
            "any_keywords": self.any_keywords,
        }

    def _example(self) -> str:
        names = self.required or self.parameters[:1] or ("name",)
        return ", ".join(f'"{name}": ...' for name in names)


def _json_kind(value: Any) -> str:
    kinds = {
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
        type(None): "null",
    }
    return kinds.get(type(value), type(value).__name__)


def calling_convention(predict: Callable[..., Any]) -> CallingConvention:
    """How ``torchon serve`` calls ``predict`` (a bound method or any callable), read from its signature.

    - exactly one parameter that can be passed positionally, and no other required one (``*args``/``**kwargs``
      beside it are fine): ``predict(inputs)``, inputs as they came (Verta's ``def predict(self, data)``);
    - no parameters at all: ``predict()``, inputs ``null`` or ``{}``;
    - only ``*args`` (with or without ``**kwargs``), or a signature that cannot be read: ``predict(inputs)``;
    - anything else (keyword-only parameters, ``**kwargs``, several named parameters): ``predict(**inputs)``,
      inputs a JSON object (Flambé's ``def predict(self, **kwargs)``).
    """
    try:
        params = list(inspect.signature(predict).parameters.values())
    except (TypeError, ValueError):  # a builtin or an odd callable: call it as before
        return CallingConvention(predict, "positional")
    named = [p for p in params if p.kind not in _VARIADIC]
    names = tuple(p.name for p in named)
    required = tuple(p.name for p in named if p.default is inspect.Parameter.empty)
    any_keywords = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    positional = [p for p in named if p.kind in _POSITIONAL]
    if not params:
        return CallingConvention(predict, "none")
    if len(positional) == 1 and set(required) <= {positional[0].name}:
        return CallingConvention(predict, "positional", names, required, any_keywords)
    if not named and any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return CallingConvention(predict, "positional", (), (), any_keywords)
    return CallingConvention(predict, "keywords", names, required, any_keywords)


class LoadedBundle:
    """A bundle loaded for serving: its top object, what its manifest says, and the local copy it came from."""

    def __init__(self, uri: str, model: Any, manifest: dict[str, Any], scratch: Path | None) -> None:
        self.uri = uri
        self.model = model
        self.manifest = manifest
        self._scratch = scratch

    def metadata(self) -> dict[str, Any]:
        cls = type(self.model)
        doc = (getattr(self.model.predict, "__doc__", None) or "").strip().split("\n")[0]
        return {
            "uri": self.uri,
            "class": f"{cls.__module__}:{cls.__qualname__}",
            "predict": doc,
            "bundle": {
                "created": self.manifest.get("created"),
                "torchon": self.manifest.get("torchon"),
                "requirements": self.manifest.get("requirements", {}),
                "files": len(self.manifest.get("files", {})),
            },
        }

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def load_for_serving(uri: str, *, trust: bool = False, allow: Sequence[str] = ()) -> LoadedBundle:
    """Load the bundle at ``uri`` once (downloading it if remote) and check that its top object can ``predict``.

    ``trust`` and ``allow`` (top-level modules whose plain, non-Component classes the bundle may build) are
    :func:`torchon.load`'s. A remote bundle's local copy is kept until :meth:`LoadedBundle.close`: its artifacts
    are read from there.
    """
    import torchon
    from torchon.api import local_bundle, read_manifest, split_scheme

    remote = split_scheme(uri)[0] != "file"
    scratch = Path(tempfile.mkdtemp(prefix="torchon-serve-")) if remote else None
    try:
        folder = local_bundle(uri, scratch or Path())
        manifest = read_manifest(folder, uri)
        try:
            model = torchon.load(folder if remote else uri, trust=trust, allow=allow)
        except Exception as exc:
            if remote:  # name the bundle, not the folder it was downloaded to
                raise type(exc)(str(exc).replace(str(folder), uri)) from exc
            raise
        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"{uri}: its top object, a {type(model).__qualname__}, has no predict() to serve")
    except BaseException:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    return LoadedBundle(uri, model, manifest, scratch)


def create_app(
    predict: Callable[..., Any],
    *,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    metadata: dict[str, Any] | None = None,
) -> Any:
    """A FastAPI app serving ``predict`` (a bundle's ``model.predict``), called as :func:`calling_convention` says."""
    expected = f"Bearer {token}".encode() if token else None
    convention = calling_convention(predict)
    info = {
        "version": wire.WIRE_VERSION,
        **(metadata or {}),
        "inputs": convention.describe(),
        "limits": {"max_body_bytes": max_body_bytes},
    }
    info_body = json.dumps(info, default=wire.jsonable).encode()

    def error(status: int, code: str, message: str) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return Response(wire.encode_error(code, message), status, headers, wire.MEDIA_TYPE)

    def refused(request: Request) -> Response | None:
        if expected is None:
            return None
        given = request.headers.get("authorization")
        if given is None:
            return error(401, "unauthorized", "this server needs a bearer token: Authorization: Bearer TOKEN")
        if not hmac.compare_digest(given.encode(), expected):
            return error(401, "unauthorized", "the bearer token is wrong")
        return None

    async def read_body(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise wire.WireError(400, "bad_request", "Content-Length is not a number")
            if int(length) > max_body_bytes:
                raise wire.WireError(
                    413, "too_large", f"the body is over the limit of {max_body_bytes} bytes"
                )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise wire.WireError(
                    413, "too_large", f"the body is over the limit of {max_body_bytes} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    app = FastAPI(title="torchon serve", docs_url=None, redoc_url=None, openapi_url=None)

    async def predict_route(request: Request) -> Response:
        denied = refused(request)
        if denied is not None:
            return denied
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != wire.MEDIA_TYPE:
            return error(415, "unsupported_media_type", "send the request as Content-Type: application/json")
        try:
            args, kwargs = convention.arguments(wire.decode_request(await read_body(request)))
        except wire.WireError as exc:
            return error(exc.status, exc.code, exc.message)
        try:
            outputs = await run_in_threadpool(lambda: predict(*args, **kwargs))
        except _BAD_INPUT as exc:
            return error(
                422, "bad_input", f"predict() rejected the inputs: {type(exc).__name__}: {exc}"[:2000]
            )
        except Exception:
            request_id = uuid.uuid4().hex[:12]
            logger.exception("predict failed (request %s)", request_id)
            return error(
                500, "internal", f"predict() failed; the server's log has the details (request {request_id})"
            )
        try:
            body = wire.encode_outputs(outputs)
        except (TypeError, ValueError) as exc:
            request_id = uuid.uuid4().hex[:12]
            logger.error("predict's outputs are not JSON (request %s): %s", request_id, exc)
            return error(500, "internal", f"predict() returned what JSON cannot hold (request {request_id})")
        return Response(body, 200, media_type=wire.MEDIA_TYPE)

    async def metadata_route(request: Request) -> Response:
        return refused(request) or Response(info_body, 200, media_type=wire.MEDIA_TYPE)

    async def health_route() -> Response:
        return Response(b'{"status":"ok"}', 200, media_type=wire.MEDIA_TYPE)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error(status, codes.get(status, "http_error"), str(getattr(exc, "detail", "")) or "error")

    async def unexpected(request: Request, exc: Exception) -> Response:
        request_id = uuid.uuid4().hex[:12]
        logger.error("request %s failed", request_id, exc_info=exc)
        return error(500, "internal", f"the server failed; its log has the details (request {request_id})")

    app.add_api_route("/v1/predict", predict_route, methods=["POST"])
    app.add_api_route("/v1/metadata", metadata_route, methods=["GET"])
    app.add_api_route("/health", health_route, methods=["GET"])
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    return app

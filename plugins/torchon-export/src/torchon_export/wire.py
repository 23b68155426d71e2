"""The wire format of ``torchon serve``, version 1: JSON in, JSON out, shared by the server and the client.

Request body of ``POST /v1/predict`` (``Content-Type: application/json``)::

    {"version": 1, "inputs": <any JSON: what the model's predict() takes>}     # "version" may be left out

``inputs`` is passed as ``predict(inputs)``, or as ``predict(**inputs)`` (then it must be an object) when
``predict`` takes keywords: ``server.calling_convention`` reads which from ``predict``'s signature.

Responses::

    200 {"version": 1, "outputs": <predict()'s result as JSON; numpy arrays become lists>}
    4xx/5xx {"version": 1, "error": {"code": "<machine-readable>", "message": "<for a person>"}}

A server answering a newer ``version`` than the client sent refuses it with 400 ``unsupported_version``; a
later format will be served beside this one under ``/v2/``.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "MEDIA_TYPE",
    "WIRE_VERSION",
    "WireError",
    "decode_request",
    "encode_error",
    "encode_outputs",
    "jsonable",
]

WIRE_VERSION = 1
MEDIA_TYPE = "application/json"


class WireError(Exception):
    """A request the server refuses: ``status`` (4xx), ``code`` and a message for the caller."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def jsonable(value: Any) -> Any:
    """``json.dumps`` fallback: numpy arrays and scalars, tensors, tuples and sets as JSON values."""
    for method in ("tolist", "item"):
        convert = getattr(value, method, None)
        if callable(convert):
            return convert()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__qualname__} is not JSON serialisable")


def encode_request(inputs: Any) -> bytes:
    return json.dumps({"version": WIRE_VERSION, "inputs": inputs}, default=jsonable, allow_nan=False).encode()


def decode_request(body: bytes) -> Any:
    """The ``inputs`` of a request body, or a :class:`WireError` saying what is wrong with it."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise WireError(
            400,
            "bad_request",
            'the body must be a JSON object {"version": 1, "inputs": ...}; "inputs" is missing',
        )
    version = payload.get("version", WIRE_VERSION)
    if version != WIRE_VERSION:
        raise WireError(
            400,
            "unsupported_version",
            f"wire format version {version!r} is not served here (this is version 1)",
        )
    unknown = sorted(set(payload) - {"version", "inputs"})
    if unknown:
        raise WireError(400, "bad_request", f"unknown fields in the request: {', '.join(unknown)}")
    return payload["inputs"]


def encode_outputs(outputs: Any) -> bytes:
    return json.dumps(
        {"version": WIRE_VERSION, "outputs": outputs}, default=jsonable, allow_nan=False
    ).encode()


def encode_error(code: str, message: str) -> bytes:
    return json.dumps({"version": WIRE_VERSION, "error": {"code": code, "message": message}}).encode()

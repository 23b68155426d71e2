"""A small client for ``torchon serve``: ``Client("http://127.0.0.1:8000", token=...).predict(inputs)``, or
``.predict(text="...", top_k=3)`` for a ``predict`` that takes keywords.

Standard library only (``http.client``), one kept-alive connection per client; use one client per thread.
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit

from torchon_export.wire import MEDIA_TYPE, WIRE_VERSION, encode_request

__all__ = ["Client", "ServeError"]

_NO_INPUTS: Any = object()


class ServeError(Exception):
    """The server refused or failed a request: ``status`` (HTTP), ``code`` and ``message`` from its JSON error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class Client:
    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._base = parts.path.rstrip("/")
        self._headers = {"Accept": MEDIA_TYPE}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def predict(self, inputs: Any = _NO_INPUTS, /, **keywords: Any) -> Any:
        """The served ``predict``'s outputs for ``inputs``, or for ``keywords`` sent as the JSON object of inputs.

        ``client.predict(rows)`` sends ``{"inputs": rows}``; ``client.predict(text="a", top_k=3)`` sends
        ``{"inputs": {"text": "a", "top_k": 3}}``, which the server passes as ``predict(text="a", top_k=3)`` to a
        ``predict`` taking keywords; ``client.predict()`` sends ``{}``. Giving both is a ``TypeError``. Raises
        :class:`ServeError` when the server refuses or fails.
        """
        if inputs is _NO_INPUTS:
            inputs = keywords
        elif keywords:
            raise TypeError(
                "Client.predict() takes the inputs or keywords, not both: "
                f"got inputs and {', '.join(sorted(keywords))}"
            )
        return self._request("POST", "/v1/predict", encode_request(inputs))["outputs"]

    def metadata(self) -> dict[str, Any]:
        return self._request("GET", "/v1/metadata")

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def _request(self, method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = MEDIA_TYPE
        with self._lock:
            for attempt in (1, 2):
                reused = self._conn is not None
                conn = self._connection()
                try:
                    conn.request(method, self._base + path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    self.close()
                    if not reused or attempt == 2:  # a kept-alive connection the server had closed: once more
                        raise
                except Exception:
                    self.close()
                    raise
        try:
            payload = json.loads(data)
        except ValueError:
            raise ServeError(response.status, "not_json", data[:200].decode("utf-8", "replace")) from None
        if response.status >= 400:
            error = payload.get("error", {}) if isinstance(payload, dict) else {}
            raise ServeError(response.status, error.get("code", "?"), error.get("message", str(payload)))
        if isinstance(payload, dict) and payload.get("version", WIRE_VERSION) != WIRE_VERSION:
            raise ServeError(
                response.status, "unsupported_version", f"the server speaks {payload.get('version')}"
            )
        return payload  # type: ignore[no-any-return]

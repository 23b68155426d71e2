"""Test helpers for code that uses ``s3://``: a real S3 server on loopback, and a proxy that injects faults.

:class:`MotoServer` runs moto's S3 server (``moto[server]``) in a child process on 127.0.0.1; point boto3 at it
with ``AWS_ENDPOINT_URL``. :class:`FaultProxy` sits between boto3 and that server and answers chosen requests with
HTTP 503s or resets the connection half way through the request body, as a flaky network or an overloaded S3 does.
Nothing here is a mock: requests travel over HTTP to a server that stores the bytes.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Fault", "FaultProxy", "MotoServer", "free_port", "is_upload_part"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """moto's S3 server in a child process on 127.0.0.1 (``with MotoServer() as server: server.url``).

    ``env`` adds variables to the server's environment (``INITIAL_NO_AUTH_ACTION_COUNT=0`` makes it check
    credentials; ``S3_UPLOAD_PART_MIN_SIZE`` changes the smallest multipart part it accepts).
    """

    def __init__(self, env: Mapping[str, str] | None = None, log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = dict(env or {})
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoServer:
        exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which(
            "moto_server"
        )
        cmd = [exe] if exe else [sys.executable, "-c", "from moto.server import main; main()"]
        out = open(self._log, "ab") if self._log else subprocess.DEVNULL
        self._proc = subprocess.Popen(
            [*cmd, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self._env},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with status {self._proc.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/moto-api/data.json")
                conn.getresponse().read()
                conn.close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto_server did not start within 60 s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def is_upload_part(method: str, path: str) -> bool:
    """Whether a request is one part of a multipart upload (``PUT ...?partNumber=N&uploadId=...``)."""
    query = urlsplit(path).query
    return method == "PUT" and "partNumber=" in query and "uploadId=" in query


@dataclass
class Fault:
    """Answer up to ``times`` matching requests with ``action``: ``"503"`` (S3's SlowDown) or ``"reset"`` (the
    connection is reset half way through the request body). ``times=None`` means every matching request."""

    action: str
    match: Callable[[str, str], bool] = is_upload_part
    times: int | None = 1
    hits: int = 0

    def take(self, method: str, path: str) -> bool:
        if not self.match(method, path) or (self.times is not None and self.hits >= self.times):
            return False
        self.hits += 1
        return True


_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>torchon-fault</RequestId></Error>"
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "expect"}


@dataclass
class FaultProxy:
    """An HTTP proxy to ``upstream`` on 127.0.0.1 that applies :attr:`faults` in order and counts requests."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str, int]] = field(
        default_factory=list
    )  # (method, path, status or 0 for reset)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        target = urlsplit(self.upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        chunk = self.rfile.read(size)
                        self.rfile.readline()
                        if size == 0:
                            break
                        chunks.append(chunk)
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                method, path = self.command, self.path
                with proxy._lock:
                    fault = next((f for f in proxy.faults if f.take(method, path)), None)
                if fault is not None and fault.action == "reset":
                    length = int(self.headers.get("Content-Length") or 0)
                    self.rfile.read(length // 2)
                    proxy._record(method, path, 0)
                    # SO_LINGER 0: close() sends RST, as a dropped connection does
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    return
                body = self._body()
                if fault is not None:
                    proxy._record(method, path, 503)
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(_SLOW_DOWN)))
                    self.end_headers()
                    self.wfile.write(_SLOW_DOWN)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
                try:
                    conn.request(method, path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                finally:
                    conn.close()
                proxy._record(method, path, response.status)
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in _HOP_BY_HOP and key.lower() not in (
                        "content-length",
                        "date",
                        "server",
                    ):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, path, status))

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

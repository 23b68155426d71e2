"""``torchon serve``: a real uvicorn server on 127.0.0.1, called with a real HTTP client (httpx) and with
``torchon_export.Client``: the routes, the wire format, the token, and bad requests of every kind."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from export_helpers import PLUGINS, child_env, python_child, training_data

from torchon_export.client import Client, ServeError
from torchon_s3.testing import free_port

TOKEN = "s3cret-token"


class Served:
    def __init__(self, proc: subprocess.Popen[str], url: str, bundle: Path) -> None:
        self.proc, self.url, self.bundle = proc, url, bundle

    def output(self) -> str:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        return out


def serve(bundle: str, tmp: Path, *args: str) -> Served:
    port = free_port()
    exe = Path(sys.executable).with_name("torchon")
    plugins = [a for name in PLUGINS for a in ("-p", name)]
    proc = subprocess.Popen(
        [str(exe), *plugins, "serve", bundle, "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env(tmp),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"torchon serve exited {proc.returncode}: {proc.stdout.read()}")  # type: ignore[union-attr]
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return Served(proc, url, Path(bundle))
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("torchon serve did not answer /health within 60 s")


def save_in_child(tmp: Path, code: str) -> Path:
    proc = python_child(code, child_env(tmp))
    assert proc.returncode == 0, proc.stderr
    return tmp


@pytest.fixture(scope="module")
def engine_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("serve")
    x, y = training_data()
    save_in_child(
        tmp,
        f"import numpy as np, torchon, export_corpus as c\n"
        f"m = c.Classifier(n_features=2).fit(np.array({x.tolist()}), np.array({y.tolist()}))\n"
        f"torchon.save(c.Engine(m, threshold=0.5), {str(tmp / 'engine')!r})\n",
    )
    served = serve(str(tmp / "engine"), tmp, "--token", TOKEN, "--max-body-bytes", "4096")
    yield served
    served.output()


def post(served: Served, body: bytes | str, token: str | None = TOKEN, **headers: str) -> httpx.Response:
    h = {"Content-Type": "application/json", **headers}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return httpx.post(served.url + "/v1/predict", content=body, headers=h, timeout=10)


def error_of(response: httpx.Response) -> dict[str, Any]:
    payload = response.json()
    assert payload["version"] == 1 and set(payload) == {"version", "error"}
    return payload["error"]  # type: ignore[no-any-return]


def test_predict_health_and_metadata(engine_server: Served) -> None:
    rows = [[2.0, 1.0], [-2.0, -1.0]]
    response = post(engine_server, json.dumps({"version": 1, "inputs": rows}))
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    payload = response.json()
    assert payload["version"] == 1 and payload["outputs"]["labels"] == [1, 0]

    assert httpx.get(engine_server.url + "/health").json() == {"status": "ok"}  # no token needed
    meta = httpx.get(engine_server.url + "/v1/metadata", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert meta["version"] == 1 and meta["class"] == "export_corpus:Engine"
    assert meta["predict"] == "Labels and scores for rows of features."
    assert meta["limits"]["max_body_bytes"] == 4096 and meta["bundle"]["requirements"]["torchon"]


def test_the_client(engine_server: Served) -> None:
    with Client(engine_server.url, token=TOKEN) as client:
        assert client.predict([[2.0, 1.0]])["labels"] == [1]
        assert client.predict([[-2.0, -1.0]])["labels"] == [0]  # the same kept-alive connection
        assert client.health() == {"status": "ok"}
        assert client.metadata()["class"] == "export_corpus:Engine"
        with pytest.raises(ServeError, match="422 bad_input") as exc:
            client.predict([[1.0, 2.0, 3.0]])
        assert exc.value.status == 422
    with pytest.raises(ServeError, match="401 unauthorized: the bearer token is wrong"):
        Client(engine_server.url, token="nope").predict([[1.0, 1.0]])


def test_the_token(engine_server: Served) -> None:
    body = json.dumps({"inputs": [[1.0, 1.0]]})
    missing = post(engine_server, body, token=None)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert error_of(missing)["code"] == "unauthorized"
    assert post(engine_server, body, token="wrong").status_code == 401
    assert httpx.get(engine_server.url + "/v1/metadata").status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "code", "says"),
    [
        ("{not json", 400, "malformed_json", "not valid JSON"),
        ("[1, 2]", 400, "bad_request", '"inputs" is missing'),
        ('{"input": [[1, 2]]}', 400, "bad_request", '"inputs" is missing'),
        ('{"version": 2, "inputs": [[1, 2]]}', 400, "unsupported_version", "version 2"),
        ('{"inputs": [[1, 2]], "extra": 1}', 400, "bad_request", "unknown fields in the request: extra"),
        (
            '{"inputs": [[1, 2, 3]]}',
            422,
            "bad_input",
            "expected rows of 2 numbers, got an array of shape (1, 3)",
        ),
        ('{"inputs": [1, 2]}', 422, "bad_input", "got an array of shape (2,)"),
        ('{"inputs": [["a", "b"]]}', 422, "bad_input", "ValueError"),
        ('{"inputs": [[1, 2], [3]]}', 422, "bad_input", "ValueError"),
    ],
)
def test_bad_requests_get_json_errors(
    engine_server: Served, body: str, status: int, code: str, says: str
) -> None:
    response = post(engine_server, body)
    assert response.status_code == status, response.text
    error = error_of(response)
    assert error["code"] == code and says in error["message"]


def test_oversized_bodies_wrong_types_and_routes(engine_server: Served) -> None:
    big = json.dumps({"inputs": [[1.0, 2.0]] * 1000})
    assert len(big) > 4096
    response = post(engine_server, big)
    assert response.status_code == 413 and error_of(response)["code"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        for _ in range(100):
            yield b" " * 100

    streamed = httpx.post(
        engine_server.url + "/v1/predict",
        content=chunks(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    assert streamed.status_code == 413

    plain = post(engine_server, "inputs=1", **{"Content-Type": "text/plain"})
    assert plain.status_code == 415 and error_of(plain)["code"] == "unsupported_media_type"
    assert error_of(httpx.get(engine_server.url + "/v2/predict"))["code"] == "not_found"
    assert error_of(httpx.get(engine_server.url + "/v1/predict"))["code"] == "method_not_allowed"


def test_server_errors_never_leak_a_traceback(tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("boom")
    save_in_child(
        tmp,
        f"import torchon, export_corpus as c\n"
        f"torchon.save(c.Boom(), {str(tmp / 'boom')!r}); torchon.save(c.Boom(mode='nan'), {str(tmp / 'nan')!r})\n",
    )
    for name in ("boom", "nan"):
        served = serve(str(tmp / name), tmp)
        response = httpx.post(served.url + "/v1/predict", json={"inputs": 1})
        log = served.output()
        assert response.status_code == 500
        error = error_of(response)
        assert error["code"] == "internal" and "request " in error["message"]
        assert (
            "Traceback" not in response.text and "secret" not in response.text and "/etc" not in response.text
        )
        if name == "boom":
            assert (
                "Traceback" in log and "secret internal detail" in log
            )  # the details are in the server's log
    assert "serving" in log and "at http://127.0.0.1:" in log  # loopback unless told otherwise


def test_serving_what_cannot_be_served(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("torchon")
    plugins = [a for name in PLUGINS for a in ("-p", name)]
    proc = subprocess.run(
        [str(exe), *plugins, "serve", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        env=child_env(tmp_path),
        timeout=60,
    )
    assert proc.returncode == 1 and "torchon: error:" in proc.stderr and "no manifest.json" in proc.stderr


def test_a_bundle_without_predict_is_refused(corpus: Any, tmp_path: Path) -> None:
    import torchon
    from torchon_export.server import load_for_serving

    torchon.save(corpus.Plain(), tmp_path / "plain")
    with pytest.raises(TypeError, match="its top object, a Plain, has no predict"):
        load_for_serving(str(tmp_path / "plain"))

"""``torchon serve``: a real uvicorn server on 127.0.0.1, called with a real HTTP client (httpx) and with
``torchon_export.Client``: the routes, the wire format, the token, and bad requests of every kind."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from export_helpers import PLUGINS, child_env, python_child, training_data

from torchon_export.client import Client, ServeError
from torchon_export.server import calling_convention
from torchon_s3.testing import free_port

TOKEN = "s3cret-token"


class Served:
    def __init__(self, proc: subprocess.Popen[str], url: str, bundle: Path) -> None:
        self.proc, self.url, self.bundle = proc, url, bundle

    def output(self) -> str:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        return out


def serve(bundle: str, tmp: Path, *args: str, env: dict[str, str] | None = None) -> Served:
    port = free_port()
    exe = Path(sys.executable).with_name("torchon")
    plugins = [a for name in PLUGINS for a in ("-p", name)]
    proc = subprocess.Popen(
        [str(exe), *plugins, "serve", bundle, "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env or child_env(tmp),
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


# --- how inputs reach predict: Verta's predict(self, data), Flambé's predict(self, **kwargs), and more ---------

STYLES = textwrap.dedent(
    '''
    import torchon


    class Shifter(torchon.Component):
        """Verta's style: one positional parameter."""

        def __init__(self, offset: float = 1.0) -> None:
            self.offset = offset

        def predict(self, data):
            """Each number plus the offset."""
            return [x + self.offset for x in data]


    class KeywordEngine(torchon.Component):
        """Flambé's style: keywords only."""

        def __init__(self, scale: float = 2.0) -> None:
            self.scale = scale

        def predict(self, **kwargs):
            """Each keyword's value times the scale."""
            return {name: value * self.scale for name, value in kwargs.items()}


    class Ranker(torchon.Component):
        """Several named parameters."""

        def __init__(self, suffix: str = "!") -> None:
            self.suffix = suffix

        def predict(self, text, top_k=3):
            """The top_k longest words of text."""
            return [w + self.suffix for w in sorted(text.split(), key=lambda w: (-len(w), w))[:top_k]]


    class Clock(torchon.Component):
        def predict(self):
            return "tick"
    '''
)


@pytest.fixture(scope="module")
def style_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    """One server per predict style, serving a bundle of a class from a module on the child's PYTHONPATH."""
    tmp = tmp_path_factory.mktemp("styles")
    (tmp / "serve_styles.py").write_text(STYLES)
    env = child_env(tmp)
    env["PYTHONPATH"] = f"{tmp}:{env['PYTHONPATH']}"
    saved = python_child(
        "import torchon, serve_styles as s\n"
        f"torchon.save(s.Shifter(offset=10.0), {str(tmp / 'shifter')!r})\n"
        f"torchon.save(s.KeywordEngine(scale=3.0), {str(tmp / 'keywords')!r})\n"
        f"torchon.save(s.Ranker(suffix='?'), {str(tmp / 'ranker')!r})\n"
        f"torchon.save(s.Clock(), {str(tmp / 'clock')!r})\n",
        env,
    )
    assert saved.returncode == 0, saved.stderr
    servers: dict[str, Served] = {}
    try:
        for name in ("shifter", "keywords", "ranker", "clock"):
            servers[name] = serve(str(tmp / name), tmp, env=env)
        yield servers
    finally:
        for served in servers.values():
            served.output()


def predict_http(served: Served, inputs: Any) -> httpx.Response:
    return httpx.post(served.url + "/v1/predict", json={"inputs": inputs}, timeout=10)


def test_a_positional_predict_gets_the_inputs_as_they_came(style_servers: dict[str, Served]) -> None:
    served = style_servers["shifter"]
    response = predict_http(served, [1.0, 2.5])
    assert response.status_code == 200 and response.json()["outputs"] == [11.0, 12.5]
    with Client(served.url) as client:
        assert client.predict([0.5]) == [10.5]
        with pytest.raises(ServeError, match=r"422 bad_input.*TypeError"):
            client.predict(data=[1.0])  # sent as the object {"data": [1.0]}, which predict cannot add to
        meta = client.metadata()
    assert meta["inputs"] == {
        "style": "positional",
        "parameters": ["data"],
        "required": ["data"],
        "any_keywords": False,
    }
    assert meta["class"] == "serve_styles:Shifter" and meta["predict"] == "Each number plus the offset."


def test_a_keywords_predict_gets_the_object_as_keywords(style_servers: dict[str, Served]) -> None:
    served = style_servers["keywords"]
    response = predict_http(served, {"feature_1": 1.0, "feature_2": 2.0})
    assert response.status_code == 200, response.text
    assert response.json()["outputs"] == {"feature_1": 3.0, "feature_2": 6.0}
    with Client(served.url) as client:
        assert client.predict(feature_1=1.0, feature_2=2.0) == {"feature_1": 3.0, "feature_2": 6.0}
        assert client.predict({"x": -1}) == {"x": -3.0}  # an object given positionally is sent as it is
        assert client.predict() == {}  # no keywords: {}
        assert client.predict(inputs=5) == {"inputs": 15.0}  # any name is a keyword, "inputs" too
        with pytest.raises(ServeError, match="422 bad_input: predict\\(\\) takes keywords") as exc:
            client.predict([1.0, 2.0])
        assert exc.value.status == 422 and "not a JSON array" in exc.value.message
        assert client.metadata()["inputs"] == {
            "style": "keywords",
            "parameters": [],
            "required": [],
            "any_keywords": True,
        }

    for inputs, kind in (([1.0, 2.0], "array"), ("text", "string"), (None, "null")):
        response = predict_http(served, inputs)
        assert response.status_code == 422, response.text
        error = error_of(response)
        assert error["code"] == "bad_input"
        assert error["message"].startswith(f"predict() takes keywords (**kwargs), not a JSON {kind}: send")
        assert "as a JSON object" in error["message"]


def test_several_named_parameters_are_keywords(style_servers: dict[str, Served]) -> None:
    served = style_servers["ranker"]
    text = "a quick brown fox jumps"
    response = predict_http(served, {"text": text, "top_k": 2})
    assert response.status_code == 200 and response.json()["outputs"] == ["brown?", "jumps?"]
    with Client(served.url) as client:
        assert client.predict(text=text) == ["brown?", "jumps?", "quick?"]  # top_k's default
        assert client.predict(text=text, top_k=1) == ["brown?"]
        with pytest.raises(
            ServeError, match=r"422 bad_input.*missing 1 required positional argument: 'text'"
        ):
            client.predict(top_k=1)
        with pytest.raises(ServeError, match=r"422 bad_input.*unexpected keyword argument 'k'"):
            client.predict(text=text, k=1)
        assert client.metadata()["inputs"] == {
            "style": "keywords",
            "parameters": ["text", "top_k"],
            "required": ["text"],
            "any_keywords": False,
        }
    error = error_of(predict_http(served, [text]))
    assert error["code"] == "bad_input"
    assert error["message"].startswith("predict() takes keywords (text, top_k), not a JSON array")
    assert '{"inputs": {"text": ...}}' in error["message"]


def test_a_predict_without_parameters(style_servers: dict[str, Served]) -> None:
    served = style_servers["clock"]
    assert predict_http(served, None).json()["outputs"] == "tick"
    assert predict_http(served, {}).json()["outputs"] == "tick"
    response = predict_http(served, [1])
    assert response.status_code == 422 and "predict() takes no inputs" in error_of(response)["message"]
    with Client(served.url) as client:
        assert client.predict() == "tick"
        assert client.metadata()["inputs"]["style"] == "none"
        with pytest.raises(ServeError, match="422 bad_input"):
            client.predict(now=1)


def test_the_client_refuses_inputs_and_keywords_together() -> None:
    client = Client("http://127.0.0.1:9")  # never reached: refused before sending
    with pytest.raises(TypeError, match="not both: got inputs and a, b"):
        client.predict([1], b=2, a=1)


class _Verta:
    def predict(self, data: Any) -> Any:
        return ("positional", data)


class _Flambe:
    def predict(self, **kwargs: Any) -> Any:
        return ("keywords", kwargs)


def _sig(fn: Any) -> tuple[str, tuple[str, ...], tuple[str, ...], bool]:
    c = calling_convention(fn)
    return c.style, c.parameters, c.required, c.any_keywords


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (lambda data: 0, ("positional", ("data",), ("data",), False)),
        (lambda data, /: 0, ("positional", ("data",), ("data",), False)),
        (lambda data, *args, **kwargs: 0, ("positional", ("data",), ("data",), True)),
        (lambda data=None, *, batch=32: 0, ("positional", ("data", "batch"), (), False)),
        (lambda *args: 0, ("positional", (), (), False)),
        (lambda *args, **kwargs: 0, ("positional", (), (), True)),
        (lambda **kwargs: 0, ("keywords", (), (), True)),
        (lambda *, text, top_k=3: 0, ("keywords", ("text", "top_k"), ("text",), False)),
        (lambda text, top_k=3: 0, ("keywords", ("text", "top_k"), ("text",), False)),
        (lambda data, *, mode: 0, ("keywords", ("data", "mode"), ("data", "mode"), False)),
        (lambda: 0, ("none", (), (), False)),
        (_Verta().predict, ("positional", ("data",), ("data",), False)),  # bound: self is not a parameter
        (_Flambe().predict, ("keywords", (), (), True)),
    ],
)
def test_calling_convention_of_each_signature(fn: Any, expected: tuple[Any, ...]) -> None:
    assert _sig(fn) == expected


def test_calling_conventions_call_predict() -> None:
    assert calling_convention(_Verta().predict)({"a": 1}) == ("positional", {"a": 1})
    assert calling_convention(_Verta().predict)([1, 2]) == ("positional", [1, 2])
    assert calling_convention(_Flambe().predict)({"a": 1}) == ("keywords", {"a": 1})
    assert calling_convention(lambda: "tick")(None) == "tick"
    assert calling_convention(lambda text, top_k=3: (text, top_k))({"text": "t"}) == ("t", 3)

    from torchon_export.wire import WireError

    with pytest.raises(WireError, match=r"takes keywords \(\*\*kwargs\), not a JSON array") as exc:
        calling_convention(_Flambe().predict)([1])
    assert exc.value.status == 422 and exc.value.code == "bad_input"
    with pytest.raises(WireError, match="takes no inputs"):
        calling_convention(lambda: 0)([])
    with pytest.raises(TypeError, match="unexpected keyword argument 'k'"):  # the server answers it with 422
        calling_convention(lambda *, text: text)({"k": 1})
    assert calling_convention(lambda text: text)({"k": 1}) == {
        "k": 1
    }  # positional: an object is passed whole


def test_an_unreadable_signature_is_called_positionally() -> None:
    class Odd:
        __signature__ = "not a signature"  # inspect.signature raises TypeError

        def __call__(self, data: Any) -> Any:
            return ["got", data]

    with pytest.raises(TypeError):
        inspect.signature(Odd())
    convention = calling_convention(Odd())
    assert convention.style == "positional" and convention([1]) == ["got", [1]]
    assert convention.describe() == {
        "style": "positional",
        "parameters": [],
        "required": [],
        "any_keywords": False,
    }


def test_serve_loads_plain_classes_only_of_allowed_modules(corpus: Any, tmp_path: Path) -> None:
    import torchon
    from torchon.bundle import BundleError
    from torchon.config import load_config
    from torchon_export import server

    (tmp_path / "plain_engine.py").write_text(
        "class Engine(object):\n"
        "    def __init__(self, k: float = 1.0):\n"
        "        self.k = k\n"
        "    def predict(self, **kwargs):\n"
        "        return {name: value * self.k for name, value in kwargs.items()}\n"
    )
    (tmp_path / "engine.yaml").write_text(
        f"plain_engine: {tmp_path / 'plain_engine.py'}\n---\n!plain_engine.Engine {{k: 3.0}}\n"
    )
    torchon.save(load_config(tmp_path / "engine.yaml").build().root, tmp_path / "engine")
    with pytest.raises(BundleError, match=r"a plain class(.|\n)*--allow plain_engine"):
        server.load_for_serving(str(tmp_path / "engine"), allow=("numpy",))
    loaded = server.load_for_serving(str(tmp_path / "engine"), allow=("plain_engine",))
    try:
        assert server.calling_convention(loaded.model.predict)({"x": 2.0}) == {"x": 6.0}
    finally:
        loaded.close()


def test_serve_has_a_repeatable_allow_option() -> None:
    import argparse

    from torchon_export.serve_cmd import ServeCommand

    parser = argparse.ArgumentParser()
    ServeCommand().configure(parser)
    assert parser.parse_args(["b"]).allow is None
    assert parser.parse_args(["b", "--allow", "numpy", "--allow", "mylib"]).allow == ["numpy", "mylib"]
    assert "narrower than --trust" in parser.format_help()

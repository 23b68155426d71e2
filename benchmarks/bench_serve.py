"""``torchon serve`` against a bare FastAPI app calling the same ``predict``, under a local load generator.

Figures:
- ``serve-rps``: requests per second of ``torchon serve BUNDLE`` (token check, body limit, wire format, JSON
  errors) against a plain FastAPI app that loads the same bundle and calls ``model.predict`` in a
  ``@app.post("/predict") def predict(payload: dict)`` route. Goal: ratio >= 0.9.
- ``serve-p99``: the 99th percentile latency of the same runs. Goal: ratio <= 1.11 (the latency side of 0.9x).

Both servers run uvicorn in their own process on 127.0.0.1 with access logs off; the load generator is a third
process (asyncio, HTTP/1.1 keep-alive, ``CONCURRENCY`` connections, ``SECONDS`` per run after a warm-up). The
model is small (logistic regression on 8 numbers, numpy) so the figure is the serving overhead. Runs alternate.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROUNDS = 3
SECONDS = 5.0
WARMUP = 1.0
CONCURRENCY = 8
TOKEN = "bench-token"

MODEL = textwrap.dedent(
    """
    import numpy as np
    import torchon


    class Scorer(torchon.Component):
        def __init__(self, n: int = 8) -> None:
            self.n = n
            self.weights = np.linspace(-1, 1, n)

        def predict(self, rows):
            x = np.asarray(rows, dtype=float)
            if x.ndim != 2 or x.shape[1] != self.n:
                raise ValueError(f"expected rows of {self.n} numbers")
            return (1 / (1 + np.exp(-(x @ self.weights)))).round(6).tolist()
    """
)

ANCHOR = textwrap.dedent(
    """
    import sys

    import torchon
    import uvicorn
    from fastapi import FastAPI

    model = torchon.load(sys.argv[1])
    app = FastAPI()


    @app.post("/predict")
    def predict(payload: dict) -> dict:
        return {"outputs": model.predict(payload["inputs"])}


    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
    """
)


async def _load(
    port: int, request: bytes, warmup: float, seconds: float, concurrency: int
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from, stop = start + warmup, start + warmup + seconds

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while (now := time.perf_counter()) < stop:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            if now >= measure_from:
                latencies.append(time.perf_counter() - now)
                errors += not head.startswith(b"HTTP/1.1 200")
        writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    latencies.sort()
    return {
        "rps": len(latencies) / seconds,
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "errors": errors,
    }


def load_generator(port: int, path: str, token: str | None) -> dict[str, float]:
    """Run the load generator in its own process; its measurements."""
    body = json.dumps({"version": 1, "inputs": [[0.1 * i for i in range(8)]] * 4}).encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n{auth}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    code = (
        f"import asyncio, json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_serve as b; "
        f"print(json.dumps(asyncio.run(b._load({port}, {request!r}, {WARMUP}, {SECONDS}, {CONCURRENCY}))))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def start(cmd: list[str], port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    import http.client

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/health")
            conn.getresponse().read()
            conn.close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{cmd} did not start")


def main() -> None:
    import torchon
    from torchon_s3.testing import free_port

    with tempfile.TemporaryDirectory(prefix="torchon-bench-serve-") as tmp:
        folder = Path(tmp)
        (folder / "bench_scorer.py").write_text(MODEL)
        (folder / "anchor_app.py").write_text(ANCHOR)
        sys.path.insert(0, str(folder))
        from bench_scorer import Scorer  # type: ignore[import-not-found]

        bundle = folder / "bundle"
        torchon.save(Scorer(), bundle)
        env = {**os.environ, "PYTHONPATH": str(folder)}
        torchon_exe = str(Path(sys.executable).with_name("torchon"))
        results: dict[str, list[dict[str, float]]] = {"torchon": [], "anchor": []}
        for _ in range(ROUNDS):
            for who in ("torchon", "anchor"):
                port = free_port()
                if who == "torchon":
                    cmd = [torchon_exe, "serve", str(bundle), "--port", str(port), "--token", TOKEN]
                    path, token = "/v1/predict", TOKEN
                else:
                    cmd = [sys.executable, str(folder / "anchor_app.py"), str(bundle), str(port)]
                    path, token = "/predict", None
                server = start(cmd, port, env)
                try:
                    results[who].append(load_generator(port, path, token))
                finally:
                    server.terminate()
                    server.wait(timeout=30)

    def median(who: str, key: str) -> float:
        return statistics.median(r[key] for r in results[who])

    errors = sum(r["errors"] for rs in results.values() for r in rs)
    note = f"bare FastAPI app, same predict; {CONCURRENCY} connections, {SECONDS:.0f}s x {ROUNDS}; {errors:.0f} errors"
    t, a = median("torchon", "rps"), median("anchor", "rps")
    print(f"BENCH serve-rps: ratio={t / a:.2f} goal=>=0.9 torchon={t:.0f}req/s anchor={a:.0f}req/s ({note})")
    t, a = median("torchon", "p99_ms"), median("anchor", "p99_ms")
    print(f"BENCH serve-p99: ratio={t / a:.2f} goal=<=1.11 torchon={t:.1f}ms anchor={a:.1f}ms ({note})")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # benchmarks measure, they do not judge: never fail the run
        print(f"bench_serve: could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(0)

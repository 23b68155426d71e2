"""Uploading and downloading a 256 MB bundle to a local S3 server, against boto3's own transfers of the same bytes.

Figures:
- ``s3-upload-256MB``: throughput of ``S3Storage.upload`` of a bundle folder (a 256 MiB ``.npy`` state file plus
  config; blobs, then the manifest last) against ``client.upload_file`` of that ``.npy`` file with boto3's default
  transfer settings. Goal: ratio >= 0.9.
- ``s3-download-256MB``: throughput of ``S3Storage.download`` of the bundle plus checking every file's BLAKE3
  digest (what ``torchon.load`` relies on) against ``client.download_file`` of the same object, unchecked.
  Goal: ratio >= 0.9.

The server is moto's (``moto[server]``) in a child process on 127.0.0.1; every round uploads to a fresh key, so
nothing is skipped as already stored. Runs alternate torchon and the anchor; medians are printed.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 3
SIZE = 256 * 1024 * 1024
MB = 1e6


def main() -> None:
    import boto3
    import numpy as np

    import torchon
    from torchon.bundle.load import verify
    from torchon.bundle.manifest import read_manifest
    from torchon_s3.storage import S3Storage
    from torchon_s3.testing import MotoServer

    with tempfile.TemporaryDirectory(prefix="torchon-bench-s3-") as tmp, MotoServer() as server:
        folder = Path(tmp)
        os.environ.update(
            AWS_ENDPOINT_URL=server.url,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="us-east-1",
        )
        client = boto3.client("s3")
        client.create_bucket(Bucket="bench")

        (folder / "bench_blob.py").write_text(
            "import numpy as np, torchon\n\n\n"
            "class Blob(torchon.Component):\n"
            "    def __init__(self, n: int = 0) -> None:\n"
            "        self.n = n\n"
            "        self.data = np.random.default_rng(0).random(n, dtype=np.float32)\n"
        )
        sys.path.insert(0, str(folder))
        from bench_blob import Blob  # type: ignore[import-not-found]

        blob = Blob(0)  # its data set after construction: state, one .npy file (torchon-numpy's saver)
        blob.data = np.random.default_rng(0).random(SIZE // 4, dtype=np.float32)
        bundle = folder / "bundle"
        torchon.save(blob, bundle)
        npy = max(bundle.rglob("*.npy"), key=lambda p: p.stat().st_size)
        total = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
        backend = S3Storage()

        up_t, up_a, down_t, down_a = [], [], [], []
        for i in range(ROUNDS):
            start = time.perf_counter()
            backend.upload(bundle, f"s3://bench/torchon-{i}")
            up_t.append(total / (time.perf_counter() - start) / MB)

            start = time.perf_counter()
            client.upload_file(str(npy), "bench", f"anchor-{i}")
            up_a.append(npy.stat().st_size / (time.perf_counter() - start) / MB)

            dest = folder / f"down-{i}"
            start = time.perf_counter()
            got = backend.download(f"s3://bench/torchon-{i}", dest)
            verify(got, read_manifest(got, "bench"), "bench", digests=True)
            down_t.append(total / (time.perf_counter() - start) / MB)
            shutil.rmtree(dest)

            start = time.perf_counter()
            client.download_file("bench", f"anchor-{i}", str(folder / "anchor.npy"))
            down_a.append(npy.stat().st_size / (time.perf_counter() - start) / MB)
            (folder / "anchor.npy").unlink()

            for key in [o["Key"] for o in client.list_objects_v2(Bucket="bench").get("Contents", [])]:
                client.delete_object(Bucket="bench", Key=key)  # moto keeps objects in memory

    s = backend.settings
    config = f"chunks {s.multipart_chunksize // 2**20} MiB x {s.max_concurrency}"
    for name, ours, anchor, note in [
        ("s3-upload-256MB", up_t, up_a, f"boto3 upload_file, defaults; torchon {config}"),
        ("s3-download-256MB", down_t, down_a, "boto3 download_file; torchon checks every BLAKE3 digest"),
    ]:
        t, a = statistics.median(ours), statistics.median(anchor)
        print(
            f"BENCH {name}: ratio={t / a:.2f} goal=>=0.9 torchon={t:.0f}MB/s anchor={a:.0f}MB/s "
            f"({note}; moto on 127.0.0.1; median of {ROUNDS})"
        )


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # benchmarks measure, they do not judge: never fail the run
        print(f"bench_s3: could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(0)

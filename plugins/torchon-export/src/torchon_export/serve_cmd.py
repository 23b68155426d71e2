"""``torchon serve URI``: serve a bundle's ``predict`` over HTTP. uvicorn and FastAPI are imported in ``run``."""

from __future__ import annotations

import argparse
import os
import sys

from torchon.api import Command

__all__ = ["ServeCommand"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ServeCommand(Command):
    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "Load a bundle and serve its top object's predict() over HTTP: POST /v1/predict (JSON in, JSON out), "
            "GET /v1/metadata, GET /health. Binds 127.0.0.1 unless --host says otherwise. The request's inputs are "
            "passed as predict(inputs), or as predict(**inputs) when predict takes keywords."
        )
        parser.add_argument("uri", metavar="URI", help="the bundle: a local folder, file://, s3://, ...")
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
        parser.add_argument(
            "--token",
            default=os.environ.get("TORCHON_SERVE_TOKEN"),
            help="require 'Authorization: Bearer TOKEN' (default: $TORCHON_SERVE_TOKEN; none if unset)",
        )
        parser.add_argument(
            "--max-body-bytes",
            type=int,
            default=None,
            help="refuse request bodies larger than this with 413 (default 16 MiB)",
        )
        parser.add_argument(
            "--trust", action="store_true", help="allow code savers (pickle, joblib) in the bundle"
        )
        parser.add_argument(
            "--allow",
            action="append",
            metavar="MODULE",
            help=(
                "let the bundle build plain (non-Component) classes of MODULE, and import MODULE from the local "
                "path the bundle recorded; repeatable; narrower than --trust"
            ),
        )
        parser.add_argument("--access-log", action="store_true", help="log every request")

    def run(self, args: argparse.Namespace) -> int:
        from torchon_export.server import DEFAULT_MAX_BODY_BYTES, create_app, load_for_serving

        try:  # torchon's own errors (a bundle refused, storage unreachable) are printed by the command line
            loaded = load_for_serving(args.uri, trust=args.trust, allow=args.allow or ())
        except (OSError, TypeError) as exc:
            print(f"torchon: error: {exc}", file=sys.stderr)
            return 1
        if args.host not in _LOOPBACK and not args.token:
            print(
                f"torchon: warning: serving on {args.host} without --token: anyone who can reach it can call it",
                file=sys.stderr,
            )
        import uvicorn

        app = create_app(
            loaded.model.predict,
            token=args.token,
            max_body_bytes=args.max_body_bytes or DEFAULT_MAX_BODY_BYTES,
            metadata=loaded.metadata(),
        )
        config = uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level="debug" if args.debug else "info",
            access_log=args.access_log,
            server_header=False,
        )
        print(f"torchon: serving {args.uri} at http://{args.host}:{args.port} (POST /v1/predict)", flush=True)
        try:
            uvicorn.Server(config).run()
        finally:
            loaded.close()
        return 0

"""``torchon submit CONFIG --cluster ADDRESS_OR_FILE [--wait]``, and ``--status/--logs/--stop ID``.

The config is loaded here first (a bad config fails as ``torchon run`` fails: ``FILE:LINE:COL: error: ...``, exit
2), then packaged with its local extensions and resources (:mod:`torchon_ray.package`) and handed to the Ray Jobs
API, whose job runs ``torchon run`` on the cluster; trials of ``executor: ray`` then join that cluster. The
submission id is derived from what is shipped and where the run writes, so a retried submit finds its job instead of
starting a second copy.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import tempfile
from pathlib import Path

from torchon.api import Command

__all__ = ["SubmitCommand"]


class SubmitCommand(Command):
    trailing = "overrides"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "Run a config on a Ray cluster through the Ray Jobs API (token authentication), shipping the config, "
            "its local extensions and resources. Exit status: 0 submitted (with --wait: succeeded), 1 the job "
            "failed or the cluster cannot be reached, 2 bad usage, config or token."
        )
        parser.add_argument("config", metavar="CONFIG", nargs="?", help="the YAML config to run")
        parser.add_argument(
            "overrides",
            metavar="OVERRIDE",
            nargs="*",
            help="change the config as `torchon run` does (PATH=VALUE, +PATH=VALUE, ~PATH); checked here, shipped "
            "with the job",
        )
        parser.add_argument(
            "--cluster",
            metavar="ADDRESS_OR_FILE",
            required=True,
            help="the Ray dashboard address (http://head:8265), or a YAML file with address, token_file or "
            "token_env, python",
        )
        parser.add_argument(
            "-o",
            "--output",
            metavar="OUT",
            help="output folder on the cluster, on storage its nodes share (default: runs/<config name>/<id> "
            "under this folder)",
        )
        parser.add_argument("--wait", action="store_true", help="stream the job's logs until it ends")
        parser.add_argument(
            "--new", action="store_true", help="submit again even if this run was submitted before (a new id)"
        )
        manage = parser.add_mutually_exclusive_group()
        manage.add_argument("--status", metavar="ID", help="show a submitted job's status")
        manage.add_argument("--logs", metavar="ID", help="print a submitted job's logs (with --wait: follow)")
        manage.add_argument("--stop", metavar="ID", help="stop a submitted job")

    def run(self, args: argparse.Namespace) -> int:
        from torchon_ray.cluster import ClusterError, read_cluster
        from torchon_ray.jobs import Jobs, JobsError

        if args.config is None and not (args.status or args.logs or args.stop):
            print(
                "torchon submit: error: give a CONFIG to submit, or --status/--logs/--stop ID",
                file=sys.stderr,
            )
            return 2
        if args.config is not None and (args.status or args.logs or args.stop):
            print("torchon submit: error: --status/--logs/--stop take an ID, not a CONFIG", file=sys.stderr)
            return 2
        try:
            cluster = read_cluster(args.cluster)
            if args.config is not None:
                return _submit(args, cluster)
            jobs = Jobs(cluster)
            if args.status:
                job = jobs.require(args.status)
                status = str(job.status).rsplit(".", 1)[-1]
                print(f"{args.status}: {status}" + (f" ({job.message})" if job.message else ""))
                return 0
            if args.logs:
                if args.wait:
                    return 0 if jobs.follow(args.logs) == "SUCCEEDED" else 1
                sys.stdout.write(jobs.logs(args.logs))
                return 0
            stopped = jobs.stop(args.stop)
            print(f"{args.stop}: " + ("stopping" if stopped else "had already ended"))
            return 0
        except ClusterError as exc:
            print(f"torchon submit: error: {exc}", file=sys.stderr)
            return 2
        except JobsError as exc:
            print(f"torchon submit: error: {exc}", file=sys.stderr)
            return exc.status


def submission_id(config: str, digest: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(config).stem).strip("-") or "run"
    return f"torchon-{stem}-{digest[:12]}"


def _submit(args: argparse.Namespace, cluster: object) -> int:
    import time

    from torchon.api import ConfigError, load_config
    from torchon_ray.cluster import Cluster
    from torchon_ray.jobs import Jobs
    from torchon_ray.package import build_package

    assert isinstance(cluster, Cluster)
    try:
        config = load_config(args.config, overrides=args.overrides)
    except ConfigError as exc:
        print(exc.format(), file=sys.stderr)
        return 2
    output = str(Path(args.output).resolve()) if args.output else None
    how = {
        "output": output,
        "python": cluster.python,
        "new": time.time() if args.new else None,
        "overrides": list(args.overrides),  # other overrides: another run (another submission id)
    }
    jobs = Jobs(cluster)  # before packaging: a wrong token or address fails fast
    with tempfile.TemporaryDirectory(prefix="torchon-submit-") as tmp:
        package = build_package(config, Path(tmp) / "job", how)
        job_id = submission_id(args.config, package.digest)
        out = output or str(Path("runs", Path(args.config).stem, job_id).resolve())
        command = [cluster.python, "-m", "torchon", "run", package.config_name, *args.overrides, "-o", out]
        command.append("--resume")
        if package.install_extensions:
            command.append("--install-extensions")
        runtime_env: dict[str, object] = {
            "working_dir": str(package.folder),
            "env_vars": {"PYTHONUNBUFFERED": "1", "TORCHON_SUBMISSION_ID": job_id},
        }
        if package.pip:
            runtime_env["pip"] = package.pip
        submitted = jobs.submit(
            job_id, shlex.join(command), runtime_env, {"torchon_config": package.config_name}
        )
    if submitted:
        print(f"submitted {job_id}; output: {out}")
    else:
        status = str(jobs.require(job_id).status).rsplit(".", 1)[-1]
        print(f"{job_id} was submitted before ({status}); not submitting it again (--new submits a new copy)")
    if not args.wait:
        print(f"follow it: torchon submit --logs {job_id} --wait --cluster {args.cluster}")
        return 0
    final = jobs.follow(job_id)
    print(f"{job_id}: {final}")
    return 0 if final == "SUCCEEDED" else 1

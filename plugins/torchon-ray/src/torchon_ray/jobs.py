"""Talking to a cluster's Ray Jobs API, with errors turned into one line a user can act on."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from torchon_ray.cluster import Cluster

__all__ = ["Jobs", "JobsError"]

TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


class JobsError(Exception):
    """The Jobs API refused or could not be reached; ``status`` is the exit status to give."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class Jobs:
    """A :class:`ray.job_submission.JobSubmissionClient` for ``cluster``, checked on creation."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        if cluster.token is None:
            # Every token source Ray would try was tried (cluster.read_cluster); left on, Ray's own loader aborts
            # the process when RAY_AUTH_MODE=token and it finds none. Set before Ray is imported.
            os.environ["RAY_AUTH_MODE"] = "disabled"
        self._client = self._call(self._connect)

    def _connect(self) -> Any:
        import logging

        from ray.job_submission import JobSubmissionClient

        for name in [n for n in logging.root.manager.loggerDict if n == "ray" or n.startswith("ray.")]:
            logging.getLogger(name).setLevel(logging.WARNING)  # not Ray's notes on uploads and closed sockets

        client = JobSubmissionClient(self.cluster.address, headers=self.cluster.headers())
        client.list_jobs()  # the first authenticated call: a wrong token fails here, not halfway through
        return client

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from ray.exceptions import AuthenticationError

        where = self.cluster.address
        try:
            return fn(*args, **kwargs)
        except AuthenticationError:
            if self.cluster.token is None:
                raise JobsError(
                    f"the Ray cluster at {where} requires a token and none was found; set RAY_AUTH_TOKEN, or name "
                    "a token_file in a --cluster file (the head's token: `ray get-auth-token` on the head)",
                    2,
                ) from None
            raise JobsError(
                f"the Ray cluster at {where} refused the token from {self.cluster.token_source}; use the "
                "cluster's token (`ray get-auth-token` on the head)",
                2,
            ) from None
        except ConnectionError as exc:
            raise JobsError(f"cannot reach the Ray Jobs API at {where}: {_first_line(exc)}") from None
        except Exception as exc:
            if type(exc).__module__.startswith("requests"):
                raise JobsError(f"cannot reach the Ray Jobs API at {where}: {_first_line(exc)}") from None
            raise

    def info(self, job_id: str) -> Any:
        """The job's details, or None when the cluster has no job with this submission id."""
        for job in self._call(self._client.list_jobs):
            if job.submission_id == job_id:
                return job
        return None

    def require(self, job_id: str) -> Any:
        job = self.info(job_id)
        if job is None:
            raise JobsError(f"the Ray cluster at {self.cluster.address} has no job {job_id}", 2)
        return job

    def submit(
        self, job_id: str, entrypoint: str, runtime_env: Mapping[str, Any], metadata: Mapping[str, str]
    ) -> bool:
        """Submit; False when a job with this id exists already (a retried submit)."""
        if self.info(job_id) is not None:
            return False
        try:
            self._call(
                self._client.submit_job,
                entrypoint=entrypoint,
                submission_id=job_id,
                runtime_env=dict(runtime_env),
                metadata=dict(metadata),
            )
        except RuntimeError as exc:
            if self.info(job_id) is not None:  # another submit of the same run got there first
                return False
            raise JobsError(f"the Ray cluster refused the job: {_first_line(exc)}") from None
        return True

    def stop(self, job_id: str) -> bool:
        self.require(job_id)
        return bool(self._call(self._client.stop_job, job_id))

    def logs(self, job_id: str) -> str:
        self.require(job_id)
        return str(self._call(self._client.get_job_logs, job_id))

    def follow(self, job_id: str) -> str:
        """Print the job's logs as they come until it ends; its final status."""

        async def tail() -> None:
            async for chunk in self._client.tail_job_logs(job_id):
                sys.stdout.write(chunk)
                sys.stdout.flush()

        try:
            asyncio.run(tail())
        except RuntimeError:  # the log stream broke off: the status below still says how it ended
            pass
        while True:
            status = str(self.require(job_id).status)
            if status.rsplit(".", 1)[-1] in TERMINAL:
                return status.rsplit(".", 1)[-1]
            time.sleep(1.0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__

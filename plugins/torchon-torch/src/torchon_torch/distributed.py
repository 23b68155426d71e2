"""Data-parallel training: the Trainer starts its other processes itself, and process 0 leads them.

Process 0 is the one ``torchon run`` (or a search) drives: it reports, logs, shows progress and writes every
file. It starts processes 1..N-1 as ``python -m torchon_torch.distributed``, handing each the Trainer written as a
config (with the run's extensions and plugins) on its standard input; each builds the same Trainer, joins the
process group (gloo on the CPU, NCCL on GPUs) and trains a step whenever process 0 broadcasts that it should.
``torch.nn.parallel.DistributedDataParallel`` averages the gradients, so every process holds the same weights.

The protocol between process 0 and the others, all of it public here:

- :func:`launch` starts processes 1..N-1 and hands each a spec: the component's config, its :class:`Place`, and
  this process's session (:func:`torchon.session.capture`, restored there by :func:`torchon.session.restore`);
- :func:`main` is what such a process runs: it builds the component (a :class:`Replica`), ``join()`` s it to its
  place, sets it up and lets it ``follow()`` process 0;
- process 0 sends a :class:`Command` before each step (:func:`send_command`), ``CONTINUE`` or, when the run is over,
  ``STOP`` (:func:`shutdown`); the others wait for it in :func:`follow_leader`.

This module knows nothing of the Trainer: the Trainer (through its run) uses it, never the other way round.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
import torch.distributed as dist

import torchon
from torchon.api import session

__all__ = [
    "Command",
    "Place",
    "Replica",
    "check_gpus",
    "failed_workers",
    "follow_leader",
    "init_process_group",
    "launch",
    "main",
    "receive_command",
    "send_command",
    "shutdown",
]

logger = logging.getLogger("torchon.torch")

_TIMEOUT = _dt.timedelta(minutes=10)


class Command(enum.IntEnum):
    """What process 0 broadcasts to the others before each step (sent as a plain int)."""

    STOP = 0  # the run is over: leave the loop, tear down
    CONTINUE = 1  # train one more step


class Place:
    """This process's place among the data-parallel processes of one Trainer."""

    def __init__(
        self,
        rank: int,
        world: int,
        port: int,
        store: Any = None,
        *,
        local_rank: int | None = None,
        external: bool = False,
        display: Any = None,
    ) -> None:
        self.rank, self.world, self.port = rank, world, port
        self.store = store  # process 0's TCPStore, which the others join
        self.workers: list[Any] = []  # process 0: the other processes
        # this process's index among those of its machine: the GPU it takes when the device names none
        self.local_rank = rank if local_rank is None else local_rank
        # the process group was set up by someone else (Ray Train's workers): joined as it is, never destroyed here
        self.external = external
        # process 0's progress display, when another process shows it (a Ray Train worker 0 relays it to the
        # driver): a :class:`~torchon_torch.progress.StepProgress` or anything with its four methods
        self.display = display


@runtime_checkable
class Replica(Protocol):
    """What :func:`main` needs of the component it builds in processes 1..N-1 (the Trainer is one)."""

    def join(self, place: Place) -> None:
        """Become the process at ``place`` (called before ``setup``)."""

    def follow(self) -> None:
        """Once set up: do the steps process 0 asks for, until it says stop (see :func:`follow_leader`)."""


def check_gpus(processes: int, device: str) -> None:
    """Fail clearly, before starting anything, when the processes would share a GPU (NCCL refuses that)."""
    if device == "auto" and not torch.cuda.is_available():
        return
    if not device.startswith(("auto", "cuda")):
        return
    if device not in ("auto", "cuda"):
        raise torchon.RunFailed(
            f"processes: {processes} puts each process on a GPU of its own, but device {device!r} names one GPU; "
            "set device: cuda (or auto), or processes: 1"
        )
    count = torch.cuda.device_count()
    if count == 0:
        raise torchon.RunFailed(
            f"device {device!r} was asked for, but no GPU is visible here; set device: cpu"
        )
    if count < processes:
        raise torchon.RunFailed(
            f"processes: {processes} puts each process on a GPU of its own, but {count} GPU"
            f"{'s are' if count != 1 else ' is'} visible here; set processes: {count} or fewer, or device: cpu to "
            f"train {processes} processes on the CPU (gloo)"
        )


# -- process 0 ----------------------------------------------------------------------------------------------


def launch(component: Any, processes: int, context: torchon.Context | None) -> Place:
    """Start processes 1..``processes``-1, each building ``component`` from its config; this process becomes
    process 0."""
    from torchon.api import DumpError, dump_yaml
    from torchon_torch.seeding import extensions_header

    try:
        text = dump_yaml(component, extensions_header())
    except DumpError as exc:
        raise torchon.RunFailed(
            f"processes: {processes} needs a Trainer that can be written as a config, to build it in the "
            f"other processes: {exc}"
        ) from exc
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, timeout=_TIMEOUT, wait_for_workers=False)
    place = Place(0, processes, store.port, store)
    state = session.capture(with_distributions=True)  # same machine: the distributions read hold there
    for rank in range(1, processes):
        spec = {
            "config": text,
            "process": state,
            "rank": rank,
            "world": processes,
            "port": place.port,
            "output_dir": str(context.output_dir) if context is not None else None,
            "resume": bool(context is not None and context.resume),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "torchon_torch.distributed"],
            stdin=subprocess.PIPE,
            # the plugins are those of the captured session, not whatever the new process would discover
            env={**os.environ, "TORCHON_DISABLE_PLUGIN_AUTOLOAD": "1"},
        )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(spec).encode("utf-8"))
        proc.stdin.close()
        place.workers.append(proc)
    logger.info("started %d more processes for data-parallel training", len(place.workers))
    return place


def init_process_group(place: Place, device: str) -> None:
    """Join the process group of ``place`` (NCCL when training on GPUs, else gloo). Process 0 first waits for
    the others to be ready, failing at once, rather than at the timeout, if one of them ends before."""
    if dist.is_initialized():
        return
    if place.store is None:
        place.store = dist.TCPStore("127.0.0.1", place.port, is_master=False, timeout=_TIMEOUT)
        place.store.set(f"ready/{place.rank}", "1")
    else:
        waiting = [f"ready/{rank}" for rank in range(1, place.world)]
        while not place.store.check(waiting):
            for rank, proc in enumerate(place.workers, 1):
                if proc.poll() is not None:
                    raise torchon.RunFailed(
                        f"data-parallel process {rank} ended with exit status {proc.returncode} before training "
                        "began (its output is above)"
                    )
            time.sleep(0.02)
    cuda = torch.cuda.is_available() and device != "cpu" and not device.startswith("cpu")
    dist.init_process_group(
        "nccl" if cuda else "gloo",
        store=place.store,
        rank=place.rank,
        world_size=place.world,
        timeout=_TIMEOUT,
    )


def send_command(command: Command) -> None:
    """Process 0: tell the others what to do next."""
    dist.broadcast_object_list([int(command)], src=0)


def receive_command() -> Command:
    """Processes 1..N-1: wait for process 0's next command."""
    box: list[Any] = [None]
    dist.broadcast_object_list(box, src=0)
    return Command(int(box[0]))


def shutdown(place: Place, *, clean: bool) -> None:
    """End a data-parallel run: tell the other processes to stop (or, after a failure, stop them), then leave
    the process group."""
    workers = place.workers
    if clean and dist.is_initialized():
        try:
            send_command(Command.STOP)
        except Exception:
            clean = False
    for proc in workers:
        if not clean:
            proc.kill()  # they may be waiting in a collective for a process that is gone
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            logger.error("data-parallel process %d did not stop; its stack:", place.workers.index(proc) + 1)
            proc.send_signal(signal.SIGUSR1)  # it prints where it is stuck (faulthandler)
            time.sleep(1)
            proc.kill()
            proc.wait()
    if dist.is_initialized() and not place.external:
        dist.destroy_process_group()
    place.store = None
    failure = failed_workers(place)
    if failure and clean:
        raise torchon.RunFailed(failure)


def failed_workers(place: Place) -> str | None:
    """Which of the other processes ended with an error, if any (a message naming them)."""
    failed = [(rank, proc.returncode) for rank, proc in enumerate(place.workers, 1) if proc.poll()]
    if not failed:
        return None
    return "data-parallel process(es) failed: " + ", ".join(
        f"process {rank} with exit status {code}" for rank, code in failed
    )


# -- processes 1..N-1 ---------------------------------------------------------------------------------------


def follow_leader(step: Callable[[], object]) -> None:
    """The loop of processes 1..N-1: call ``step`` each time process 0 sends ``CONTINUE``, until it sends
    ``STOP``."""
    while receive_command() == Command.CONTINUE:
        step()


def main() -> int:
    """Process 1..N-1 of a data-parallel Trainer (started by :func:`launch`)."""
    import faulthandler

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # process 0 asks for the stack of a stuck process
    spec = json.loads(sys.stdin.read())
    logging.basicConfig(
        level=logging.WARNING, format=f"process {spec['rank']}: %(levelname)s %(name)s: %(message)s"
    )
    session.restore(spec["process"])
    from torchon.api import loads

    built = loads(spec["config"], f"<trainer of process {spec['rank']}>").build()
    replica = built.root
    if not isinstance(replica, Replica):
        raise TypeError(
            f"process {spec['rank']} built a {type(replica).__qualname__}, not a Trainer (nor anything with "
            "join() and follow())"
        )
    replica.join(Place(spec["rank"], spec["world"], spec["port"]))
    output = spec["output_dir"]
    context = torchon.Context(
        env=torchon.get_env(),
        output_dir=Path(output) if output else Path.cwd(),
        resume=spec["resume"],
        logger=logging.getLogger("torchon.run"),
    )
    failed = True
    try:
        with session.running(built.components, context):
            replica.follow()
        failed = False
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        # ended here, with the objects still alive: torch's distributed objects destroyed on the way out can
        # wait forever
        _exit(1 if failed else 0)
    return 0


def _exit(code: int) -> None:
    """End this process at once, as multiprocessing's workers do: the interpreter's own shutdown (threads of the
    process group and its store) could otherwise keep it waiting, and process 0 with it."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    try:
        status = main()
    except BaseException:
        import traceback

        traceback.print_exc()
        status = 1
    _exit(status)

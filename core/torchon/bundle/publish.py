"""Putting a finished bundle folder in place atomically, so an interrupted save never leaves half a bundle.

A save writes into a hidden sibling (``.NAME.tmp-PID-XXXX``) and swaps it with the destination in one
``renameat2(RENAME_EXCHANGE)`` (Linux), or renames it into place when nothing is there. Without the exchange the old
bundle is moved aside first; a crash between the two renames leaves it in ``.NAME.old-*``, which :func:`recover`
puts back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from torchon.bundle.manifest import MANIFEST
from torchon.errors import UserError

__all__ = ["PublishError", "fsync_all", "publish", "recover", "staging_dir"]

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class PublishError(UserError):
    """The destination cannot take a bundle (it is a file, or a folder that is not a bundle)."""


def fsync_all(paths: Iterable[Path]) -> None:
    """fsync files and folders, one after another: on a fast disk, threads to overlap them cost more than the
    fsyncs of a bundle's few files."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        pass
    return True


def staging_dir(dest: Path) -> Path:
    """A new hidden sibling of ``dest`` to write the bundle into (same filesystem, so renames are atomic)."""
    if dest.exists() and not dest.is_dir():
        raise PublishError(f"{dest} is a file; a bundle is a folder")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / MANIFEST).is_file():
        raise PublishError(f"{dest} is a folder that is not a torchon bundle; refusing to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    recover(dest)
    for sibling in dest.parent.glob(f".{dest.name}.tmp-*"):  # left by saves whose process died
        pid_text = sibling.name.rsplit(".tmp-", 1)[1].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            shutil.rmtree(sibling, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-{os.getpid()}-", dir=dest.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; the bundle should be like any folder made here
    return staging


@functools.cache
def _renameat2() -> Any:
    """libc's ``renameat2``, or None. Looked up once: ``find_library`` runs ``ldconfig``, a few ms a call."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    return getattr(ctypes.CDLL(libc_name, use_errno=True), "renameat2", None)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the system cannot."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def publish(staging: Path, dest: Path) -> None:
    """Make the complete bundle in ``staging`` appear at ``dest``, replacing any bundle there in one step."""
    fsync_all([staging])
    if not dest.exists():
        os.rename(staging, dest)
    elif _exchange(staging, dest):
        # ``staging`` now holds the old bundle. Deleting a large one takes a while; the caller need not wait (the
        # thread is not a daemon, so the process finishes it before exiting; if killed, the next save does).
        threading.Thread(target=shutil.rmtree, args=(staging,), kwargs={"ignore_errors": True}).start()
    else:
        aside = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        os.rename(dest, aside / "bundle")
        os.rename(staging, dest)
        shutil.rmtree(aside, ignore_errors=True)
    fsync_all([dest.parent])


def recover(dest: Path) -> None:
    """Put back a bundle moved aside by a publish that was interrupted between its two renames."""
    if dest.exists():
        return
    for aside in sorted(dest.parent.glob(f".{dest.name}.old-*")):
        if (aside / "bundle" / MANIFEST).is_file():
            os.rename(aside / "bundle", dest)
            shutil.rmtree(aside, ignore_errors=True)
            return

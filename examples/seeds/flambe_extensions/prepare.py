"""Stand-ins, on this machine, for the GitHub repository and the PyPI package that exp.yaml's header names:

- mirrors/user/repo.git: a bare git repository whose branch ``dev`` holds sources/repo (so ``sub/folder`` is the
  extension's folder); ``TORCHON_GIT_MIRRORS="https://github.com/=$PWD/mirrors/"`` fetches
  https://github.com/user/repo from it;
- wheels/: a wheel of sources/py-extension-pkg (py-extension-pkg 1.0), for ``PIP_FIND_LINKS``.

Run it again to start over. With the real repository and package published, none of this is needed.
"""

import shutil
import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
for name in ("build", "mirrors", "wheels"):
    shutil.rmtree(here / name, ignore_errors=True)


def git(*args: str, cwd: Path) -> str:
    identity = [
        "-c",
        "user.name=torchon",
        "-c",
        "user.email=torchon@example.org",
        "-c",
        "commit.gpgsign=false",
    ]
    return subprocess.run(
        ["git", *identity, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


work = here / "build" / "repo"
shutil.copytree(here / "sources" / "repo", work)
git("init", "-q", "-b", "dev", cwd=work)
git("add", "-A", cwd=work)
git("commit", "-q", "-m", "git_ext 0.1.0", cwd=work)
(here / "mirrors" / "user").mkdir(parents=True)
git("clone", "-q", "--bare", str(work), str(here / "mirrors" / "user" / "repo.git"), cwd=here)
commit = git("rev-parse", "dev", cwd=work)

package = here / "build" / "py-extension-pkg"  # built from a copy: building writes into the folder
shutil.copytree(here / "sources" / "py-extension-pkg", package)
subprocess.run(
    [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(here / "wheels"), str(package)],
    check=True,
)
shutil.rmtree(here / "build")
print(f"mirrors/user/repo.git: branch dev at {commit}")
print(f"wheels/: {', '.join(p.name for p in sorted((here / 'wheels').iterdir()))}")

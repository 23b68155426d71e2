"""``torchon run`` that kills itself with SIGKILL at a chosen point of a bundle save (for the resume tests).

    python kill_driver.py publish N  run CONFIG -o OUT ...   # just before the Nth bundle is swapped into place
    python kill_driver.py write N    run CONFIG -o OUT ...   # just after the Nth safetensors file of a bundle

The kill is real (the process dies at once, as with kill -9); only where it happens is chosen.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


def main() -> int:
    mode, count, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    calls = 0

    def killing(original: Any, after: bool) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == count and not after:
                os.kill(os.getpid(), signal.SIGKILL)
            result = original(*args, **kwargs)
            if calls == count and after:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        return wrapper

    if mode == "publish":
        import importlib

        save = importlib.import_module(
            "torchon.bundle.save"
        )  # the module (torchon.bundle.save is the function)
        save.publish = killing(save.publish, after=False)
    elif mode == "write":
        import torchon_torch.tensordata as tensordata

        tensordata.write_safetensors = killing(tensordata.write_safetensors, after=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    from torchon.cli.main import main as torchon_main

    return torchon_main(argv)


if __name__ == "__main__":
    sys.exit(main())

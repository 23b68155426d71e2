"""``python -m torchon``."""

from torchon.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())

"""torchon-search's tests: make the helper module importable (pytest runs with --import-mode=importlib)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from search_helpers import run_search  # noqa: F401  (a fixture)

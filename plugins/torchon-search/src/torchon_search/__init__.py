"""torchon-search: ``!Search``, ``!Experiment``, search-space tags and the local executor.

Nothing heavy is imported here or in the entry module (:mod:`torchon_search.plugin`): Optuna is imported when a
search runs.
"""

__version__ = "0.1.0"

"""torchon-ray: the Ray executor for Search and Experiment trials, and ``torchon submit``."""

__all__: list[str] = []

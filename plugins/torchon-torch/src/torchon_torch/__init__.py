"""torchon-torch: torch namespaces for configs (``!torch.nn.Linear``) and safetensors savers for torch state."""

__version__ = "0.1.0"

"""Entry module of the torchon-torch plugin: names only. torch is imported when a config or a bundle uses it."""

from __future__ import annotations

from torchon.api import SaverRegistry, TagRegistry, hookimpl

_NAMESPACES = {
    "torch.nn": "torch.nn layers and losses (!torch.nn.Linear {in_features: 4, out_features: 2})",
    "torch.optim": "torch optimizers (!torch.optim.Adam {lr: 0.001})",
    "torch.optim.lr_scheduler": "torch learning-rate schedulers (!torch.optim.lr_scheduler.StepLR)",
    "torch.utils.data": "torch data loading (!torch.utils.data.DataLoader)",
}


_TAGS = {
    "Trainer": (
        "torchon_torch.trainer:Trainer",
        "step-based PyTorch training with checkpoints and bit-exact resume",
    ),
    "Evaluator": ("torchon_torch.evaluator:Evaluator", "a model's loss and metrics on a data set"),
    "DigitsData": (
        "torchon_torch.datasets:DigitsData",
        "scikit-learn's 8x8 digits, split into train and val",
    ),
    "Accuracy": (
        "torchon_torch.metrics:Accuracy",
        "the fraction of correct predictions (argmax or threshold)",
    ),
    "MeanSquaredError": ("torchon_torch.metrics:MeanSquaredError", "the mean squared error"),
    "MeanAbsoluteError": ("torchon_torch.metrics:MeanAbsoluteError", "the mean absolute error"),
    "TrainingState": (
        "torchon_torch.checkpoint:TrainingState",
        "a Trainer's checkpoint (what --resume reads)",
    ),
}


@hookimpl
def torchon_register_tags(tags: TagRegistry) -> None:
    for module, help in _NAMESPACES.items():
        tags.add_namespace(module, module, help=help)
    for name, (target, help) in _TAGS.items():
        tags.add(name, target, help=help)


@hookimpl
def torchon_register_savers(savers: SaverRegistry) -> None:
    savers.add(
        "torch-module",
        "torchon_torch.savers:ModuleSaver",
        safety="data",
        types=("torch.nn.modules.module:Module",),
        help="a torch.nn.Module's state_dict as safetensors (weights loaded into the rebuilt module)",
    )
    savers.add(
        "torch-tensor",
        "torchon_torch.savers:TensorSaver",
        safety="data",
        values=("torch:Tensor",),
        help="tensors in a component's state as safetensors",
    )
    savers.add(
        "torch-optimizer",
        "torchon_torch.savers:OptimizerSaver",
        safety="data",
        types=("torch.optim.optimizer:Optimizer",),
        help="a torch optimizer's state_dict: tensors as safetensors, the rest as JSON",
    )
    savers.add(
        "torch-lr-scheduler",
        "torchon_torch.savers:SchedulerSaver",
        safety="data",
        # ReduceLROnPlateau subclasses LRScheduler only from torch 2.2 on
        types=("torch.optim.lr_scheduler:LRScheduler", "torch.optim.lr_scheduler:ReduceLROnPlateau"),
        help="a torch learning-rate scheduler's state_dict as JSON",
    )

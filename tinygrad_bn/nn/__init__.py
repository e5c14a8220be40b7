"""Neural-network layers, losses and save/load, composed from tinygrad_bn's primitive ops."""

from . import functional, init, utils
from .batchnorm import BatchNorm1d, BatchNorm2d, GhostBatchNorm
from .conv import Conv1d, Conv2d
from .io import load, save
from .layers import Dropout, LayerNorm, Linear, ReLU, Sigmoid, Tanh
from .module import Module, Parameter, Sequential
from .norms import GroupNorm, InstanceNorm1d, InstanceNorm2d
from .pooling import AdaptiveAvgPool2d, AvgPool2d, Flatten, MaxPool2d

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "Conv1d", "Conv2d", "Flatten", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d",
    "MaxPool2d",
    "BatchNorm1d", "BatchNorm2d", "Dropout", "GhostBatchNorm", "LayerNorm", "Linear", "Module", "Parameter",
    "ReLU", "Sequential", "Sigmoid", "Tanh", "functional", "init", "load", "save", "utils",
]

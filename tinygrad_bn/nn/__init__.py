"""Neural-network layers, losses and save/load, composed from tinygrad_bn's primitive ops."""

from . import functional
from .batchnorm import BatchNorm1d, BatchNorm2d, GhostBatchNorm
from .io import load, save
from .layers import Dropout, LayerNorm, Linear, ReLU, Sigmoid, Tanh
from .module import Module, Parameter, Sequential

__all__ = [
    "BatchNorm1d", "BatchNorm2d", "Dropout", "GhostBatchNorm", "LayerNorm", "Linear", "Module", "Parameter",
    "ReLU", "Sequential", "Sigmoid", "Tanh", "functional", "load", "save",
]

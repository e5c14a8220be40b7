"""Neural-network layers, losses and save/load, composed from tinygrad_bn's primitive ops."""

from . import functional, init, utils
from .attention import MultiheadAttention
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchRenorm1d, BatchRenorm2d, GhostBatchNorm
from .containers import Identity, ModuleDict, ModuleList
from .conv import Conv1d, Conv2d
from .embedding import Embedding
from .io import load, save
from .layers import (
    ELU,
    GELU,
    Dropout,
    Hardtanh,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from .losses import CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, Parameter, Sequential
from .norms import GroupNorm, InstanceNorm1d, InstanceNorm2d
from .pooling import AdaptiveAvgPool2d, AvgPool2d, Flatten, MaxPool2d
from .rnn import LSTM
from .transformer import TransformerEncoder, TransformerEncoderLayer
from .upsample import Upsample

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "Conv1d", "Conv2d", "Embedding", "Flatten", "GroupNorm", "InstanceNorm1d",
    "InstanceNorm2d", "MaxPool2d", "Identity", "ModuleDict", "ModuleList", "ELU", "GELU", "LeakyReLU", "LogSoftmax",
    "SiLU", "Softmax", "Hardtanh", "Upsample", "LSTM", "MultiheadAttention", "TransformerEncoder",
    "TransformerEncoderLayer",
    "CrossEntropyLoss", "MSELoss", "NLLLoss",
    "BatchNorm1d", "BatchNorm2d", "BatchRenorm1d", "BatchRenorm2d",
    "Dropout", "GhostBatchNorm", "LayerNorm", "Linear", "Module", "Parameter",
    "ReLU", "Sequential", "Sigmoid", "Tanh", "functional", "init", "load", "save", "utils",
]

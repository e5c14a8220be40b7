"""tinygrad_bn: a small reverse-mode autodiff library on numpy, built to study batch normalization."""

from . import nn, optim
from .autograd import Node, enable_grad, grad, is_grad_enabled, module_scope, no_grad
from .gradcheck import GradcheckError, gradcheck
from .tensor import ShapeError, Tensor, concatenate, get_default_dtype, manual_seed, set_default_dtype, stack, where

__all__ = [
    "Node", "Tensor", "ShapeError", "GradcheckError", "concatenate", "enable_grad", "get_default_dtype",
    "grad", "gradcheck", "is_grad_enabled", "manual_seed", "module_scope", "no_grad", "set_default_dtype",
    "stack", "where", "nn", "optim",
]
__version__ = "0.1.0"

"""tinygrad_bn: a small reverse-mode autodiff library on numpy, built to study batch normalization."""

from . import nn, optim, utils
from .anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .autograd import grad
from .functions import (
    arange,
    cat,
    einsum,
    eye,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    randn,
    zeros,
    zeros_like,
)
from .gradcheck import GradcheckError, gradcheck
from .graph import Node, Scope, enable_grad, is_grad_enabled, module_scope, no_grad, record, scope
from .jit import jit
from .tape import JitError
from .tensor import (
    ShapeError,
    Tensor,
    concatenate,
    get_default_dtype,
    manual_seed,
    set_default_dtype,
    stack,
    tensor,
    where,
)
from .validate import AxisError

__all__ = [
    "AnomalyError", "AxisError", "JitError", "Node", "Scope", "Tensor", "ShapeError", "GradcheckError", "concatenate",
    "detect_anomaly", "enable_grad", "get_default_dtype", "grad", "gradcheck", "is_anomaly_enabled",
    "is_grad_enabled", "jit", "manual_seed", "module_scope", "no_grad", "record", "scope", "set_default_dtype",
    "set_detect_anomaly", "stack", "tensor", "where", "nn", "optim", "utils", "arange", "cat", "einsum", "eye", "full",
    "full_like", "linspace", "ones", "ones_like", "rand", "randn", "zeros", "zeros_like",
]
__version__ = "0.1.0"

"""Every primitive op, its forward and its vector-Jacobian product side by side, in files by domain.

``ops.<name>`` is a primitive applied to Tensors; ``ops.ARRAYS.<name>`` its forward on ndarrays (``F`` in a
plain backward pass). How a primitive is declared: :mod:`tinygrad_bn.ops.primitive`. Composite functions of
primitives (softmax, the losses, the activations) are in :mod:`tinygrad_bn.ops.composites` and
:mod:`tinygrad_bn.ops.losses`.

``tensor`` and ``ops`` import each other: ``ops`` makes Tensors, Tensor's methods call ``ops`` (the one
import circle of the library, bound at the end of ``tensor.py``).
"""

from .elementwise import (
    abs,
    add,
    astype,
    clip,
    clone,
    div,
    erf,
    exp,
    log,
    logsigmoid,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    softplus,
    sqrt,
    sub,
    tanh,
    where,
)
from .linalg import einsum, matmul
from .lookup import embedding, embedding_grad
from .primitive import ARRAYS, primitive
from .random import bernoulli
from .reduce import max, mean, min, sum, var
from .shape import broadcast_to, concatenate, getitem, pad, reshape, scatter_add, stack, transpose
from .windows import conv2d, fold, max_pool2d, unfold


"""PyTorch's ``torch.nn.functional``: every functional form, re-exported from where it lives.

Composites of primitives (softmax, the activations, dropout): :mod:`tinygrad_bn.ops.composites`; losses:
:mod:`tinygrad_bn.ops.losses`; normalizations: :mod:`tinygrad_bn.nn.normalization` and ``nn.norms``;
convolution, pooling, embedding and attention beside their layers. None has a hand-written backward.
"""

from ..ops.composites import (
    binary_cross_entropy_with_logits,
    dropout,
    elu,
    gelu,
    leaky_relu,
    log_softmax,
    logsigmoid,
    one_hot,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from ..ops.losses import cross_entropy, mse, mse_loss, nll_loss
from .attention import scaled_dot_product_attention
from .conv import conv1d, conv2d
from .embedding import embedding
from .normalization import batch_norm, batch_renorm, layer_norm
from .norms import group_norm, instance_norm
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .upsample import interpolate

__all__ = [
    "adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "batch_renorm", "binary_cross_entropy_with_logits", "conv1d",
    "conv2d", "cross_entropy", "dropout", "elu", "embedding", "gelu", "group_norm", "instance_norm", "interpolate",
    "layer_norm", "leaky_relu", "log_softmax", "logsigmoid", "max_pool2d", "mse", "mse_loss", "nll_loss", "one_hot",
    "relu", "scaled_dot_product_attention", "sigmoid", "silu", "softmax", "softplus", "tanh",
]

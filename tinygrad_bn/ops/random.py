"""Random sources: each draw is a node marked ``random`` (a noise source for ``viz``), without a vjp."""

from __future__ import annotations

import numpy as np

from .primitive import primitive


@primitive(random=True)
def bernoulli(*, p: float, shape: tuple[int, ...], dtype: np.dtype, generator: np.random.Generator):
    """A 0/1 mask of ``shape``, each entry 1 with probability ``p`` (a random source in the graph, no vjp)."""
    return (generator.random(shape) < p).astype(dtype)

"""PyTorch, the oracle of the parity tests: ``torch`` (None when it is not installed) and ``needs_torch``, the mark
that skips only the tests comparing with it (`make test` installs it, so CI runs them all)."""

import pytest

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="compares with PyTorch")

"""The "Differences from PyTorch" table (docs/guides/pytorch.md) stays true: every row's examples are run here."""

import re
from pathlib import Path

import numpy as np
import pytest

import tinygrad_bn
from tinygrad_bn import Tensor, nn
from tinygrad_bn.nn import functional as F

try:
    import torch
except ImportError:  # the oracle is optional; `make test` installs it
    torch = None

PAGE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "pytorch.md"
TABLE = re.search(r"<!-- table:pytorch -->\n(.*?)<!-- /table:pytorch -->", PAGE.read_text(), flags=re.S).group(1)
ROWS = [tuple(c.strip() for c in line.strip("|").split("|")) for line in TABLE.strip().splitlines()[2:]]
ARRAYS = {"x": (2, 3, 6, 6), "w": (4, 3, 3, 3), "m": (3, 4), "logits": (5, 4)}


def _code(cell: str) -> str:
    return re.fullmatch(r"`(.*)`", cell).group(1)


def _namespaces():
    rng = np.random.default_rng(0)
    arrays = {k: rng.standard_normal(s) for k, s in ARRAYS.items()}
    labels = rng.integers(0, 4, 5)
    ours = {"np": np, "tinygrad_bn": tinygrad_bn, "nn": nn, "F": F, "labels": labels,
            **{k: Tensor(a) for k, a in arrays.items()}}
    theirs = None
    if torch is not None:
        theirs = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional, "labels": torch.from_numpy(labels),
                  **{k: torch.from_numpy(a) for k, a in arrays.items()}}
    return ours, theirs


def test_the_table_has_rows_of_each_kind():
    assert {s.split(":")[0].split(" (")[0] for *_, s in ROWS} == {"same", "differs", "missing"}


@pytest.mark.parametrize("ours,theirs,status", ROWS, ids=[r[0] for r in ROWS])
def test_row(ours, theirs, status):
    ns, tns = _namespaces()
    if status.startswith("missing"):
        with pytest.raises(AttributeError):
            eval(_code(ours), ns)
        return
    result = eval(_code(ours), ns)
    if tns is None:
        pytest.skip("compares with PyTorch")
    expected = eval(_code(theirs), tns)
    if isinstance(expected, tuple) and type(expected).__name__ != "Size":  # (values, indices): item by item
        assert type(result).__name__ == "ValuesIndices" and len(result) == len(expected)
        for got, want in zip(result, expected):
            _agree(got, want)
    else:
        _agree(result, expected)


def _agree(result, expected):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    got = np.asarray(result)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)

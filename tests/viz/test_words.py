"""What the noise report and the pictures say: entries named by module path and class with the batch axes by
name, a dropout mask as its keep probability, a summary that counts only the sources feeding an entry, and a
module's buffer read as it is drawn as a buffer."""

import numpy as np

import viz
from tinygrad_bn import Tensor, manual_seed, nn


def report(model, shape, classes=3):
    x = Tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    return viz.noise_paths(viz.capture(model, input=x, target=np.arange(shape[0]) % classes))


def test_entries_are_named_by_module_path_class_and_axes():
    manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.Flatten(), nn.Dropout(0.3, generator=0),
                          nn.Linear(32, 3))
    r = report(model, (8, 1, 4, 4))
    words = [r.describe(e) for e in r.entries]
    assert words == ["1 · BatchNorm2d — additive at sub: batch mean over (N, H, W)",
                     "1 · BatchNorm2d — multiplicative at div: batch variance over (N, H, W)",
                     "3 · Dropout — multiplicative at mul: Dropout(p=0.3): keep mask, keep probability 0.7"]
    summary = r.summary().splitlines()
    assert summary[0] == "3 noise entry point(s), fed by 2 batch statistic(s) and 1 random source(s)"
    assert summary[1].startswith("  1 · BatchNorm2d — additive at sub")


def test_the_summary_counts_only_sources_feeding_an_entry_and_says_what_else_it_found():
    r = report(nn.Sequential(nn.Linear(4, 4, generator=0), nn.LayerNorm(4)), (8, 4))
    lines = r.summary().splitlines()
    assert lines[0] == "0 noise entry point(s), fed by 0 batch statistic(s) and 0 random source(s)"
    assert lines[1].startswith("also found: 1 batch statistic(s) or random source(s) feeding no entry")
    assert len(r.batch_statistics) == 1  # the loss's mean over the batch, still in the report's data


class Scaled(nn.Module):
    """Multiplies by a buffer it reads as it is."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("channel_scale", Tensor(np.full(4, 2.0, dtype=np.float32)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.channel_scale


def test_a_buffer_read_as_it_is_has_role_buffer_and_its_name():
    g = viz.capture(nn.Sequential(nn.Linear(4, 4, generator=0), Scaled()), input=Tensor(np.ones((8, 4), np.float32)))
    (buffer,) = [d for _, d in g.nodes(data=True) if d["kind"] == "tensor" and d["role"] == "buffer"]
    assert buffer["name"] == "channel scale" and buffer["module"] == "1"
    assert "channel scale (buffer) (4,) float32" in viz.render(g, depth=None).svg

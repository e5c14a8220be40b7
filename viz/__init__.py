"""viz: capture a tinygrad_bn graph, find where mini-batch noise enters it, and draw it as SVG."""

from .capture import capture
from .noise import Entry, NoiseReport, noise_paths
from .render import MAX_NODES, Rendering, render, to_dot

__all__ = ["MAX_NODES", "Entry", "NoiseReport", "Rendering", "capture", "noise_paths", "render", "to_dot"]

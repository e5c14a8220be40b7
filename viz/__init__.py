"""viz: capture a tinygrad_bn graph, find where mini-batch noise enters it, draw it as SVG or explore it in a page."""

from .capture import capture
from .explore import Explorer, Timeline, explore
from .fold import MAX_NODES
from .monitor import Monitor
from .noise import Entry, NoiseReport, noise_paths
from .render import Rendering, render, to_dot

__all__ = ["MAX_NODES", "Entry", "Explorer", "Monitor", "NoiseReport", "Rendering", "Timeline", "capture", "explore",
           "noise_paths", "render", "to_dot"]

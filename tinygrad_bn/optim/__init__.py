"""Optimizers and learning-rate schedulers with PyTorch's rules, parameter groups and state dicts."""

from . import lr_scheduler
from .adam import Adam, AdamW
from .io import load, save
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop", "load", "lr_scheduler", "save"]

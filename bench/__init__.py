"""Benchmarks of tinygrad_bn against a hand-written numpy training step and the peers a user would pick.

Run everything with ``python -m bench`` (``--quick`` for a tiny smoke run, ``--check`` to verify the
hand-written step's gradients against ours). Nothing here is imported by the library or timed in tests.
"""

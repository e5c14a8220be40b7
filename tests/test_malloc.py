"""tinygrad_bn fixes glibc's malloc thresholds at import (tinygrad_bn/malloc.py) unless told not to."""

import os
import subprocess
import sys

import pytest

from tinygrad_bn import malloc


def _steady(env: dict[str, str]) -> str:
    code = "import tinygrad_bn.malloc as m; print(m.STEADY)"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return run.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux") or not malloc.steady_malloc(), reason="needs glibc's mallopt")
def test_thresholds_are_fixed_at_import_and_can_be_left_alone():
    env = {k: v for k, v in os.environ.items() if k != "TINYGRAD_BN_MALLOC"}
    assert _steady(env) == "True"
    assert _steady({**env, "TINYGRAD_BN_MALLOC": "default"}) == "False"
    assert malloc.MMAP_THRESHOLD < malloc.TRIM_THRESHOLD

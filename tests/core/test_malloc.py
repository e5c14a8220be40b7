"""glibc's malloc thresholds are fixed only by an explicit call (tinygrad_bn/malloc.py), never at import."""

import os
import subprocess
import sys

import pytest

from tinygrad_bn import malloc


def _run(code: str, env: dict[str, str]) -> str:
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return run.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs glibc's mallopt")
def test_thresholds_are_fixed_by_the_call_and_can_be_left_alone():
    env = {k: v for k, v in os.environ.items() if k != "TINYGRAD_BN_MALLOC"}
    assert _run("import tinygrad_bn.malloc as m; print(m.steady_malloc())", env) == "True"
    assert _run("import tinygrad_bn.malloc as m; print(m.steady_malloc())", {**env, "TINYGRAD_BN_MALLOC": "default"}) \
        == "False"
    assert malloc.MMAP_THRESHOLD < malloc.TRIM_THRESHOLD


def test_importing_the_library_calls_no_mallopt():
    """Importing tinygrad_bn, viz and bnlab never reaches mallopt: the allocator is the user's process's."""
    code = ("import ctypes, sys\n"
            "calls = []\n"
            "real = ctypes.CDLL\n"
            "class Spy:\n"
            "    def __init__(self, *a, **k): self._lib = real(*a, **k)\n"
            "    def __getattr__(self, name):\n"
            "        calls.append(name)\n"
            "        return getattr(self._lib, name)\n"
            "ctypes.CDLL = Spy\n"
            "import tinygrad_bn, viz, bnlab\n"
            "print('mallopt' in calls)")
    assert _run(code, dict(os.environ)) == "False"

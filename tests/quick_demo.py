"""The quick demo, run once per test session and shared by the tests that read its output (any folder)."""

import contextlib
import fcntl
import functools
import io
from pathlib import Path


@functools.cache
def quick_demo(base: Path) -> tuple[Path, str]:
    """`tinygrad-bn demo --quick` run once per test session into ``base``'s parent: (output folder, what it printed).

    The pytest-xdist workers share it: the first to take the lock runs the demo, the others read its output.
    """
    from bnlab.cli import main

    shared = base.parent if base.name.startswith("popen-gw") else base
    out = shared / "quick-demo"
    with open(shared / "quick-demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        printed_file = shared / "quick-demo.txt"
        if not printed_file.exists():
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                assert main(["demo", "--quick", "--no-progress", "--out", str(out)]) == 0
            printed_file.write_text(printed.getvalue())
    return out, printed_file.read_text()

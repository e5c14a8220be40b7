"""`make test` sets up its browser: Debian's Chromium if present (or installable with apt-get as root), else
Playwright's own download, else one line naming the command to run; `make demo` needs no browser; CI's `.ci/run`
runs exactly the README's test command. The installers are replaced by stand-ins here (nothing is installed)."""

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make(*args):
    """``make browser`` with the venv taken as set up (-o: never reinstalled here), as a top-level make even when
    the suite itself runs under ``make test`` (CI)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    return subprocess.run(["make", "--no-print-directory", "-o", ".venv/.test", "browser", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=env)


def test_a_present_chromium_is_used_as_it_is(tmp_path):
    chromium = tmp_path / "chromium"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)
    done = make(f"CHROMIUM={chromium}", "APT_INSTALL=exit 9", "PLAYWRIGHT_INSTALL=exit 9")
    assert done.returncode == 0 and done.stderr == "" and "installing" not in done.stdout


def test_without_chromium_apt_get_then_playwright_are_tried(tmp_path):
    marker = tmp_path / "playwright-ran"
    done = make(f"CHROMIUM={tmp_path / 'none'}", "APT_INSTALL=false", f"PLAYWRIGHT_INSTALL=touch {marker}")
    assert done.returncode == 0, done.stderr
    assert marker.exists()


def test_without_any_way_to_install_one_line_says_what_to_run(tmp_path):
    done = make(f"CHROMIUM={tmp_path / 'none'}", "APT_INSTALL=false", "PLAYWRIGHT_INSTALL=false")
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if not re.match(r"make(\[\d+\])?: \*\*\*", line)]
    assert lines == ["make test: the browser tests need Chromium; run 'sudo apt-get install chromium' or 'false', "
                     "then make test again"]


def test_make_test_sets_up_the_browser_and_make_demo_does_not():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: .*\bbrowser\b", makefile, re.M)
    assert not re.search(r"^demo: .*\bbrowser\b", makefile, re.M)
    dry = subprocess.run(["make", "-n", "-o", ".venv/.demo", "demo"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert dry.returncode == 0 and "chromium" not in dry.stdout.lower() and "playwright" not in dry.stdout


def test_ci_runs_exactly_the_readme_test_command():
    readme_command = re.search(r"^(make test)\s+#", (ROOT / "README.md").read_text(), re.M)[1]
    ci = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == readme_command
    assert "chromium" not in "\n".join(ci)  # the README's command sets the browser up itself

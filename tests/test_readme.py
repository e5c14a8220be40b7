"""The Python code blocks of the README and of each guide run, in order, one namespace per page: the
documentation cannot rot."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs" / "guides").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_python_blocks_run(page, tmp_path, monkeypatch):
    blocks = re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M)
    assert blocks or page.name != "README.md"
    monkeypatch.chdir(tmp_path)  # blocks may write files (SVGs, saved models)
    namespace: dict = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"{page.name} block {i}", "exec"), namespace)
        except Exception as e:  # pragma: no cover - the message is the point
            raise AssertionError(f"{page.relative_to(ROOT)} python block {i} fails: {e!r}\n{block}") from e

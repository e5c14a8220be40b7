"""The suite's root: its folder is on ``sys.path`` (pytest puts a root conftest's folder there), so test files in
sub-folders share helpers such as ``test_experiments.quick_demo``. The browser fixtures, and the only import
of Playwright, are in ``tests/browser/conftest.py``: without Playwright the rest of the suite still collects."""

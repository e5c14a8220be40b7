"""bnlab.plots: matplotlib settings stay inside each plot (rc_context), importing viz or the plots changes nothing."""

import subprocess
import sys
import textwrap


def test_plotting_leaves_global_matplotlib_state_alone(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        import matplotlib
        before = dict(dict.items(matplotlib.rcParams))  # plain dict access: reading "backend" would resolve it
        import viz
        import bnlab.plots as plots
        assert "matplotlib.pyplot" not in sys.modules, "importing viz or bnlab.plots imported pyplot"
        plots.bars({{"accuracy": {{"a": 0.5, "b": 0.9}}}}, r"{tmp_path / "bars"}")
        plots.intervals({{"effect": {{"a": (0.1, 0.0, 0.2)}}}}, r"{tmp_path / "dots"}", zero=True)
        after = dict(dict.items(matplotlib.rcParams))
        changed = sorted(k for k in before if before[k] != after[k])
        assert not changed, changed
        assert "matplotlib.pyplot" not in sys.modules
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    svg = (tmp_path / "bars.svg").read_text()
    assert "<svg" in svg and (tmp_path / "dots.png").read_bytes().startswith(b"\x89PNG")


def test_the_style_applies_inside_a_plot(tmp_path):
    import matplotlib

    import bnlab.plots as plots

    seen = {}

    @plots.styled
    def probe():
        seen["grid"] = matplotlib.rcParams["axes.grid"]

    grid = matplotlib.rcParams["axes.grid"]
    probe()
    assert seen["grid"] is True and matplotlib.rcParams["axes.grid"] == grid

"""Run every gallery example at its fast budget so that none of them rots."""

import ast
import runpy
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="the examples draw with matplotlib (test extra)")
pytest.importorskip("pandas", reason="the examples use pandas (test extra)")

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("plot_*.py"))


def test_examples_found():
    assert len(EXAMPLES) >= 6, EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_has_gallery_header(path):
    source = path.read_text()
    doc = ast.get_docstring(ast.parse(source))
    assert doc, f"{path.name} needs a sphinx-gallery docstring"
    title_lines = doc.strip().splitlines()
    # A title underlined (and overlined) with '=' as sphinx-gallery expects.
    assert set(title_lines[0]) == {"="} and set(title_lines[2]) == {"="}, title_lines[:3]
    assert "# %%" in source
    assert "SKSURGEON_EXAMPLE_FAST" in source


@pytest.fixture
def one_torch_thread():
    # The examples' networks are tiny: on a busy machine torch's intra-op threads spin against
    # other processes and an example that takes a second can take a minute.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_fast(path, monkeypatch, tmp_path, one_torch_thread):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setenv("SKSURGEON_EXAMPLE_FAST", "1")
    monkeypatch.chdir(tmp_path)
    plt.close("all")
    try:
        namespace = runpy.run_path(str(path), run_name="__main__")
        # Every example shows at least one figure.
        assert plt.get_fignums(), f"{path.name} drew no figure"
    finally:
        plt.close("all")
    assert namespace.get("FAST") is True

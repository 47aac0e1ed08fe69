"""Sphinx configuration of the sksurgeon documentation.

Builds offline: no intersphinx, no remote images. The gallery examples run at their fast
budget (``SKSURGEON_EXAMPLE_FAST=1``) so that the whole build takes a minute or so; the
numbers in the rendered examples are therefore those of a tiny budget.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

os.environ["SKSURGEON_EXAMPLE_FAST"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
# Import the package from this checkout even when it is not installed.
sys.path.insert(0, str(ROOT))

import sksurgeon  # noqa: E402

try:
    import torch

    # The examples' networks are tiny; on a busy machine torch's intra-op threads only spin.
    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - the package itself needs torch
    pass

project = "sksurgeon"
author = "sksurgeon developers"
copyright = "sksurgeon developers"
release = sksurgeon.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "_generated_benchmark_results.rst"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"

autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# No intersphinx: the build must not touch the network.
html_theme = "alabaster"
html_static_path = []
html_theme_options = {"description": "MLP classifier that optimises its own topology"}

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "reference_url": {"sksurgeon": None},
    "backreferences_dir": None,
    "plot_gallery": "True",
    "min_reported_time": 0,
}


def _write_benchmark_page(app):
    """List every Markdown result in benchmarks/results/ as a raw include (no Markdown parser
    is needed: the files are written by the benchmark scripts and shown as they are)."""
    results = sorted((ROOT / "benchmarks" / "results").glob("*.md"))
    lines = []
    for path in results:
        title = path.name
        lines += [title, "-" * len(title), ""]
        rel = os.path.relpath(path, HERE).replace(os.sep, "/")
        lines += [f".. literalinclude:: {rel}", "   :language: none", ""]
    if not results:
        lines += ["No benchmark results are in ``benchmarks/results/`` yet.", ""]
    target = HERE / "_generated_benchmark_results.rst"
    text = "\n".join(lines)
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


def setup(app):
    app.connect("builder-inited", _write_benchmark_page)

"""Build the documentation offline, warnings as errors, in a temporary copy of the sources."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

for _module in ("sphinx", "numpydoc", "sphinx_gallery", "matplotlib", "pandas"):
    pytest.importorskip(_module, reason=f"building the docs needs {_module} (the 'docs' extra)")

# Outputs of earlier builds in the source tree: never copied, so the build starts clean.
_GENERATED = ("_build", "auto_examples", "generated", "sg_execution_times.rst")


def _copy_sources(dest):
    shutil.copytree(ROOT / "doc", dest / "doc", ignore=shutil.ignore_patterns(*_GENERATED))
    shutil.copytree(ROOT / "examples", dest / "examples")
    results = ROOT / "benchmarks" / "results"
    if results.is_dir():
        shutil.copytree(results, dest / "benchmarks" / "results")


def _build(tmp_path, *extra):
    _copy_sources(tmp_path)
    out = tmp_path / "html"
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-b",
        "html",
        "-d",
        str(tmp_path / "doctrees"),
        *extra,
        str(tmp_path / "doc"),
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return out, proc


def test_docs_build_without_warnings(tmp_path):
    out, proc = _build(tmp_path)
    assert "WARNING" not in proc.stderr, proc.stderr[-4000:]
    for page in ("index", "install", "user_guide", "api", "benchmarks", "changelog"):
        assert (out / f"{page}.html").is_file(), page
    api = {p.stem for p in (out / "generated").glob("*.html")}
    for name in (
        "sksurgeon.SurgeonClassifier",
        "sksurgeon.save",
        "sksurgeon.load",
        "sksurgeon.surgery.add_neurons",
        "sksurgeon.surgery.truncate",
        "sksurgeon.datasets.load_mnist",
        "sksurgeon.plotting.plot_surgery_history",
        "sksurgeon.plotting.plot_comparison",
        "sksurgeon.plotting.plot_topology_evolution",
    ):
        assert name in api, name
    # Every example became a gallery page with at least one figure.
    examples = sorted(p.stem for p in (ROOT / "examples").glob("plot_*.py"))
    for stem in examples:
        assert (out / "auto_examples" / f"{stem}.html").is_file(), stem
        assert list((out / "_images").glob(f"sphx_glr_{stem}_001.png")), stem
    guide = (out / "user_guide.html").read_text()
    assert "size_weight" in guide and "race_fraction" in guide
    results = sorted((ROOT / "benchmarks" / "results").glob("*.md"))
    bench = (out / "benchmarks.html").read_text()
    for path in results:
        assert path.name in bench, path.name

import subprocess
import sys

import pytest

import sksurgeon


def test_version():
    assert sksurgeon.__version__


@pytest.mark.parametrize("name", sksurgeon.__all__)
def test_public_names_resolve(name):
    assert getattr(sksurgeon, name) is not None
    assert name in dir(sksurgeon)


def test_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sksurgeon.nope  # noqa: B018


def test_star_import_gives_the_public_names():
    ns = {}
    exec("from sksurgeon import *", ns)
    assert {"SurgeonClassifier", "load", "save", "surgery", "plotting"} <= set(ns)


def test_worker_modules_do_not_import_scikit_learn():
    # A worker process unpickles tasks that need the search's modules only; importing
    # scikit-learn there too would double every fresh worker's start-up.
    code = (
        "import sys, sksurgeon._surgeon, sksurgeon._training, sksurgeon._recommend; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'pandas')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"

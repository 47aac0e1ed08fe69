import sksurgeon


def test_version():
    assert sksurgeon.__version__

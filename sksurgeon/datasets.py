"""Loaders for benchmark data that is already on disk.

Nothing here downloads anything. The loaders read the IDX files of MNIST and
Fashion-MNIST, the tab-separated gzip files of the Penn Machine Learning
Benchmarks (PMLB), plain CSV/TSV tables and ``.npz`` archives, and return
``(X, y)`` pairs ready for a scikit-learn estimator.

Default locations are searched in this order:

1. ``$SKSURGEON_DATA/<dataset>`` when the environment variable is set;
2. ``../shared/data/<dataset>`` relative to the current working directory;
3. for Fashion-MNIST only, ``/usr/share/datasets/fashion-mnist`` (where
   Debian's ``dataset-fashion-mnist`` package installs it).
"""

import csv
import difflib
import gzip
import io
import math
import os
import warnings
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "default_data_dir",
    "load_csv",
    "load_fashion_mnist",
    "load_idx",
    "load_mnist",
    "load_mnist_like",
    "load_npz",
    "load_pmlb",
]

_ENV_VAR = "SKSURGEON_DATA"
_SHARED_RELATIVE = Path("..") / "shared" / "data"
_DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

_GZIP_MAGIC = b"\x1f\x8b"

# IDX type codes; the format stores every multi-byte value big-endian.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_KIND_ALIASES = {"train": "train", "t10k": "t10k", "test": "t10k"}

# Spellings of a missing value in UCI/PMLB/R exports, compared case-insensitively.
_MISSING = frozenset({"", "na", "n/a", "nan", "?", "null"})

_DEFAULT_TARGETS = ("target", "label", "class", "y")


# --------------------------------------------------------------------------------------
# Raw file access
# --------------------------------------------------------------------------------------


def _read_maybe_gzip(path):
    """Return the bytes of ``path``, gunzipped when it starts with the gzip magic."""
    path = Path(path)
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        # Truncated or corrupt archives raise several unrelated exception types.
        raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from exc


def _idx_view(path):
    """Parse an IDX file into a read-only array view in the file's byte order."""
    data = _read_maybe_gzip(path)
    if len(data) < 4:
        raise ValueError(f"{path}: too short for an IDX header ({len(data)} bytes, need >= 4)")
    magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{path}: bad IDX magic number 0x{magic:08X}; the first two bytes must be zero "
            "(is this really an IDX file?)"
        )
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(
            f"{path}: unknown IDX dtype code 0x{code:02X} in magic number 0x{magic:08X} "
            f"(known: {known})"
        )
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header_size} header bytes, "
            f"file has {len(data)}"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(data) - header_size
    if actual != expected:
        hint = "truncated file?" if actual < expected else "trailing bytes after the data"
        raise ValueError(
            f"{path}: IDX payload is {actual} bytes but shape {shape} of {dtype.name} needs "
            f"{expected} bytes ({hint})"
        )
    return np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)


def load_idx(path):
    """Read an IDX file (the MNIST format), plain or gzip-compressed.

    Compression is detected from the gzip magic bytes, not from the file name.

    Parameters
    ----------
    path : str or path-like
        The IDX file.

    Returns
    -------
    array : ndarray
        A writable array in native byte order with the shape and dtype given by
        the header (``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or
        ``float64``).

    Raises
    ------
    ValueError
        If the magic number, dtype code, number of dimensions or payload size is
        wrong, or the gzip stream is corrupt; the message names the file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sksurgeon.datasets import load_idx
    >>> header = bytes([0, 0, 0x08, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "tiny-idx2-ubyte")
    ...     with open(path, "wb") as f:
    ...         _ = f.write(header + bytes(range(6)))
    ...     load_idx(path)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    view = _idx_view(path)
    return view.astype(view.dtype.newbyteorder("="), copy=True)


# --------------------------------------------------------------------------------------
# MNIST-like image sets
# --------------------------------------------------------------------------------------


def _normalise_kind(kind):
    try:
        return _KIND_ALIASES[kind]
    except (KeyError, TypeError):
        raise ValueError(f"kind must be 'train', 't10k' or 'test', got {kind!r}") from None


def _find_idx_file(directory, stem):
    """Locate ``stem`` or ``stem.gz`` in ``directory``, else a single ``stem.<tag>...`` variant.

    The variant covers files shipped under a marked name, such as the rebuilt
    ``train-images-idx3-ubyte.APPROX.gz`` of the shared MNIST copy. Returns
    ``(path, looked_for)`` with ``path`` None when nothing fits.
    """
    exact = [stem + ".gz", stem]
    looked_for = [str(directory / name) for name in exact] + [str(directory / (stem + ".*"))]
    for name in exact:
        candidate = directory / name
        if candidate.is_file():
            return candidate, looked_for
    variants = sorted(p for p in directory.glob(stem + ".*") if p.is_file())
    if len(variants) == 1:
        warnings.warn(
            f"{stem}: using {variants[0].name}, not the canonical file; see the "
            "directory's PROVENANCE/README for how it differs",
            UserWarning,
            stacklevel=3,
        )
        return variants[0], looked_for
    if len(variants) > 1:
        names = ", ".join(p.name for p in variants)
        raise FileNotFoundError(f"{directory}: no {stem}[.gz] and several variants ({names})")
    return None, looked_for


def load_mnist_like(directory, *, kind="train", flatten=True, scale=True):
    """Load an MNIST-style image set stored as IDX files.

    Reads ``{kind}-images-idx3-ubyte[.gz]`` and ``{kind}-labels-idx1-ubyte[.gz]``.
    If neither exact name exists but exactly one marked variant such as
    ``train-images-idx3-ubyte.APPROX.gz`` does, that file is used and a
    ``UserWarning`` says so.

    Parameters
    ----------
    directory : str or path-like
        Folder holding the IDX files.
    kind : {"train", "t10k", "test"}, default="train"
        Which split; ``"test"`` is an alias for ``"t10k"``.
    flatten : bool, default=True
        Return images as rows of ``height * width`` pixels instead of
        ``(n, height, width)``.
    scale : bool, default=True
        Divide pixel values by 255 so they lie in [0, 1].

    Returns
    -------
    X : ndarray of shape (n_samples, height * width) or (n_samples, height, width)
        Pixel values as ``float32``.
    y : ndarray of shape (n_samples,)
        Labels as ``int64``.

    Raises
    ------
    FileNotFoundError
        If a file is missing; the message lists the names looked for.
    ValueError
        If a file is not valid IDX, or images and labels do not match.

    Examples
    --------
    >>> from sksurgeon.datasets import load_mnist_like
    >>> X, y = load_mnist_like("../shared/data/fashion-mnist")  # doctest: +SKIP
    >>> X.shape, X.dtype, y.dtype  # doctest: +SKIP
    ((60000, 784), dtype('float32'), dtype('int64'))
    """
    directory = Path(directory)
    kind = _normalise_kind(kind)
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST-like data directory {directory} does not exist")
    paths = {}
    missing = []
    for part, stem in (
        ("images", f"{kind}-images-idx3-ubyte"),
        ("labels", f"{kind}-labels-idx1-ubyte"),
    ):
        path, looked_for = _find_idx_file(directory, stem)
        if path is None:
            missing.extend(looked_for)
        paths[part] = path
    if missing:
        raise FileNotFoundError("MNIST-like files not found; looked for: " + ", ".join(missing))

    images = _idx_view(paths["images"])
    labels = _idx_view(paths["labels"])
    if images.ndim != 3 or images.dtype.kind != "u" or images.itemsize != 1:
        raise ValueError(
            f"{paths['images']}: expected a 3-D uint8 image array, got shape {images.shape} "
            f"of {images.dtype.name}"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(
            f"{paths['labels']}: expected a 1-D integer label array, got shape {labels.shape} "
            f"of {labels.dtype.name}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{len(images)} images in {paths['images']} but {len(labels)} labels in "
            f"{paths['labels']}"
        )
    if flatten:
        images = images.reshape(len(images), -1)
    X = images.astype(np.float32)
    if scale:
        X /= 255.0
    y = labels.astype(np.int64)
    return X, y


def _candidate_dirs(subdir, extra=()):
    """The default search path for one dataset folder, in order."""
    candidates = []
    env = os.environ.get(_ENV_VAR)
    if env:
        candidates.append(Path(env) / subdir)
    candidates.append(Path.cwd() / _SHARED_RELATIVE / subdir)
    candidates.extend(Path(p) for p in extra)
    return candidates


def _resolve_dataset_dir(directory, subdir, extra=()):
    if directory is not None:
        return Path(directory)
    candidates = _candidate_dirs(subdir, extra)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    searched = ", ".join(str(c) for c in candidates)
    hint = "" if os.environ.get(_ENV_VAR) else f" (set {_ENV_VAR} to a folder holding {subdir}/)"
    raise FileNotFoundError(f"no {subdir} data directory found; searched: {searched}{hint}")


def default_data_dir():
    """Return the root folder the loaders search by default, if there is one.

    That is ``$SKSURGEON_DATA`` when it names a folder, otherwise
    ``../shared/data`` relative to the current working directory when it
    exists, otherwise None.

    Returns
    -------
    path : pathlib.Path or None
        Absolute path of the data root, or None.

    Examples
    --------
    >>> from sksurgeon.datasets import default_data_dir
    >>> root = default_data_dir()
    >>> root is None or root.is_dir()
    True
    """
    env = os.environ.get(_ENV_VAR)
    candidates = ([Path(env)] if env else []) + [Path.cwd() / _SHARED_RELATIVE]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    return None


def load_fashion_mnist(directory=None, *, kind="train"):
    """Load Fashion-MNIST from IDX files on disk.

    Parameters
    ----------
    directory : str or path-like, default=None
        Folder with the four ``*-idx?-ubyte.gz`` files. If None, the first
        existing folder of ``$SKSURGEON_DATA/fashion-mnist``,
        ``../shared/data/fashion-mnist`` (relative to the working directory)
        and ``/usr/share/datasets/fashion-mnist`` is used.
    kind : {"train", "t10k", "test"}, default="train"
        Which split; ``"test"`` is an alias for ``"t10k"``.

    Returns
    -------
    X : ndarray of shape (n_samples, 784), dtype float32
        Pixels scaled to [0, 1].
    y : ndarray of shape (n_samples,), dtype int64
        Class labels 0-9.

    Raises
    ------
    FileNotFoundError
        If no folder is found (the message lists the places searched) or a
        file is missing.

    Examples
    --------
    >>> from sksurgeon.datasets import load_fashion_mnist
    >>> X, y = load_fashion_mnist(kind="test")  # doctest: +SKIP
    >>> X.shape, y.shape  # doctest: +SKIP
    ((10000, 784), (10000,))
    """
    directory = _resolve_dataset_dir(directory, "fashion-mnist", extra=(_DEBIAN_FASHION_DIR,))
    return load_mnist_like(directory, kind=kind)


def load_mnist(directory=None, *, kind="train"):
    """Load MNIST from IDX files on disk.

    The shared copy ships rebuilt, near-exact training images as
    ``train-images-idx3-ubyte.APPROX.gz``; that file is used (with a
    ``UserWarning``) when no exact training images file is present.

    Parameters
    ----------
    directory : str or path-like, default=None
        Folder with the IDX files. If None, the first existing folder of
        ``$SKSURGEON_DATA/mnist`` and ``../shared/data/mnist`` (relative to the
        working directory) is used.
    kind : {"train", "t10k", "test"}, default="train"
        Which split; ``"test"`` is an alias for ``"t10k"``.

    Returns
    -------
    X : ndarray of shape (n_samples, 784), dtype float32
        Pixels scaled to [0, 1].
    y : ndarray of shape (n_samples,), dtype int64
        Digit labels 0-9.

    Raises
    ------
    FileNotFoundError
        If no folder is found (the message lists the places searched) or a
        file is missing.

    Examples
    --------
    >>> from sksurgeon.datasets import load_mnist
    >>> X, y = load_mnist(kind="test")  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (10000, 784)
    """
    directory = _resolve_dataset_dir(directory, "mnist")
    return load_mnist_like(directory, kind=kind)


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------


def _guess_delimiter(path, header_line):
    name = Path(path).name.lower()
    if name.endswith((".tsv", ".tsv.gz", ".tab", ".tab.gz")) or "\t" in header_line:
        return "\t"
    for candidate in (",", ";"):
        if candidate in header_line:
            return candidate
    return ","


def _target_index(header, target, path):
    n_cols = len(header)
    if target is None:
        lowered = [h.strip().lower() for h in header]
        for name in _DEFAULT_TARGETS:
            if name in lowered:
                return lowered.index(name)
        return n_cols - 1
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if not -n_cols <= target < n_cols:
            raise ValueError(f"{path}: target index {target} out of range for {n_cols} columns")
        return int(target) % n_cols
    if isinstance(target, str):
        stripped = [h.strip() for h in header]
        if target in stripped:
            return stripped.index(target)
        raise ValueError(f"{path}: no target column {target!r}; columns are {header}")
    raise TypeError(f"target must be a column name, an int or None, got {target!r}")


def _parse_feature_column(values, name, path, line_numbers):
    """Convert one column of strings to float64, mapping missing markers to NaN."""
    try:
        # Fast path: numpy parses the whole column in C.
        return np.asarray(values, dtype=str).astype(np.float64)
    except ValueError:
        pass
    out = np.empty(len(values), dtype=np.float64)
    for i, value in enumerate(values):
        try:
            out[i] = float(value)
        except ValueError:
            if value.strip().lower() in _MISSING:
                out[i] = np.nan
            else:
                raise ValueError(
                    f"{path}: non-numeric value {value!r} in feature column {name!r} "
                    f"(line {line_numbers[i]})"
                ) from None
    return out


def _parse_target_column(values, name, path, line_numbers):
    """Numeric labels become int64 (float64 if not integral); anything else stays str."""
    for i, value in enumerate(values):
        if value.strip().lower() in _MISSING:
            raise ValueError(
                f"{path}: missing label {value!r} in target column {name!r} "
                f"(line {line_numbers[i]})"
            )
    labels = np.asarray([v.strip() for v in values], dtype=str)
    try:
        numeric = labels.astype(np.float64)
    except ValueError:
        return labels
    if np.all(np.isfinite(numeric)) and np.array_equal(numeric, np.round(numeric)):
        return numeric.astype(np.int64)
    return numeric


def _load_numeric_table(body, delimiter, n_cols, t):
    """Parse an all-numeric table with numpy's C reader; None when it does not apply.

    Large PMLB files (kddcup: 494,020 rows) take ~20x longer through the csv
    module, so this is tried first and the slow path only produces the error
    messages or handles strings and missing-value markers.
    """
    if not any(line.strip() for line in body):
        return None
    try:
        table = np.loadtxt(
            body, delimiter=delimiter, dtype=np.float64, quotechar='"', comments=None, ndmin=2
        )
    except ValueError:
        return None
    if table.shape[1] != n_cols:
        return None
    y = table[:, t].copy()
    if not np.all(np.isfinite(y)):
        # Let the slow path name the row with the missing label.
        return None
    if np.array_equal(y, np.round(y)):
        y = y.astype(np.int64)
    X = np.delete(table, t, axis=1)
    return X, y


def load_csv(path, *, target=None, delimiter=None):
    """Load a delimited table with a header row into ``(X, y)``.

    Parameters
    ----------
    path : str or path-like
        A CSV or TSV file, optionally gzip-compressed (detected from the
        magic bytes).
    target : str, int or None, default=None
        The label column, by name or position (negative counts from the end).
        If None, the first column called ``target``, ``label``, ``class`` or
        ``y`` (case-insensitive) is used, else the last column.
    delimiter : str, default=None
        Field separator. If None: tab for ``.tsv``/``.tab`` names or when the
        header contains a tab, else comma, else semicolon if the header has
        one.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float64
        The other columns, in file order. Empty cells and ``NA``, ``N/A``,
        ``NaN``, ``?`` and ``null`` become NaN.
    y : ndarray of shape (n_samples,)
        ``int64`` if every label is an integer, ``float64`` if numeric
        otherwise, else strings.

    Raises
    ------
    ValueError
        If the target column does not exist or has missing labels, a row has
        the wrong number of fields, or a feature value is not numeric (the
        message names the column and line).

    Examples
    --------
    >>> import os, tempfile
    >>> from sksurgeon.datasets import load_csv
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "toy.csv")
    ...     with open(path, "w") as f:
    ...         _ = f.write("a,b,label\\n1,2,cat\\n3,NA,dog\\n")
    ...     X, y = load_csv(path)
    >>> X
    array([[ 1.,  2.],
           [ 3., nan]])
    >>> y.tolist()
    ['cat', 'dog']
    """
    path = Path(path)
    try:
        text = _read_maybe_gzip(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc})") from exc
    lines = text.splitlines()
    # Line numbers in messages are 1-based file lines, so track leading blanks.
    start = next((i for i, line in enumerate(lines) if line.strip()), None)
    if start is None:
        raise ValueError(f"{path}: file is empty")
    if delimiter is None:
        delimiter = _guess_delimiter(path, lines[start])
    header = [h.strip() for h in next(csv.reader([lines[start]], delimiter=delimiter))]
    n_cols = len(header)
    t = _target_index(header, target, path)
    body = lines[start + 1 :]
    fast = _load_numeric_table(body, delimiter, n_cols, t)
    if fast is not None:
        return fast
    reader = csv.reader(io.StringIO("\n".join(body)), delimiter=delimiter)
    data, line_numbers = [], []
    for row in reader:
        # Blank lines are skipped (as numpy's reader does) but line numbers in messages
        # still count them, so they point at the right line of the file.
        if any(field.strip() for field in row):
            data.append(row)
            line_numbers.append(start + 1 + reader.line_num)
    if not data:
        raise ValueError(f"{path}: header row but no data rows")
    for row, line in zip(data, line_numbers, strict=True):
        if len(row) != n_cols:
            raise ValueError(
                f"{path}: line {line} has {len(row)} fields, header has {n_cols} "
                f"(delimiter {delimiter!r})"
            )
    columns = list(zip(*data, strict=True))
    y = _parse_target_column(columns[t], header[t], path, line_numbers)
    features = [
        _parse_feature_column(col, header[j], path, line_numbers)
        for j, col in enumerate(columns)
        if j != t
    ]
    if features:
        X = np.column_stack(features)
    else:
        X = np.empty((len(data), 0), dtype=np.float64)
    return X, y


def load_pmlb(name, directory=None):
    """Load one Penn Machine Learning Benchmarks dataset from its ``.tsv.gz`` file.

    Parameters
    ----------
    name : str
        Dataset name, e.g. ``"iris"``; the file is ``<directory>/<name>/<name>.tsv.gz``
        (or ``<directory>/<name>.tsv.gz``).
    directory : str or path-like, default=None
        The PMLB root folder. If None, the first existing folder of
        ``$SKSURGEON_DATA/pmlb`` and ``../shared/data/pmlb`` (relative to the
        working directory) is used.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float64
        Features; ``NA`` cells (as in ``penguins``) become NaN.
    y : ndarray of shape (n_samples,)
        The ``target`` column, ``int64`` when integral.

    Raises
    ------
    FileNotFoundError
        If the folder or the dataset is not found; close names are suggested.

    Examples
    --------
    >>> from sksurgeon.datasets import load_pmlb
    >>> X, y = load_pmlb("iris")  # doctest: +SKIP
    >>> X.shape, sorted(set(y.tolist()))  # doctest: +SKIP
    ((150, 4), [0, 1, 2])
    """
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in {".", ".."}:
        raise ValueError(f"PMLB dataset name must be a plain name like 'iris', got {name!r}")
    root = _resolve_dataset_dir(directory, "pmlb")
    candidates = [root / name / f"{name}.tsv.gz", root / f"{name}.tsv.gz"]
    for candidate in candidates:
        if candidate.is_file():
            return load_csv(candidate, target="target", delimiter="\t")
    known = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"PMLB dataset {name!r} not found; looked for {looked}{hint}")


def load_npz(path):
    """Load ``(X, y)`` from a NumPy ``.npz`` archive.

    Parameters
    ----------
    path : str or path-like
        Archive with one features array under key ``X`` or ``x`` and one label
        array under ``y`` or ``Y``. Pickled objects are refused.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The stored features, dtype unchanged; arrays with more than two
        dimensions (such as images) are flattened to one row per sample.
    y : ndarray of shape (n_samples,)
        The stored labels.

    Raises
    ------
    ValueError
        If the keys are missing or ambiguous (the message lists the keys
        found), or the shapes do not fit together.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sksurgeon.datasets import load_npz
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "toy.npz")
    ...     np.savez(path, x=np.zeros((3, 2, 2)), y=np.array([0, 1, 0]))
    ...     X, y = load_npz(path)
    >>> X.shape, y.tolist()
    ((3, 4), [0, 1, 0])
    """
    path = Path(path)
    loaded = np.load(path, allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single .npy array, not an .npz archive with X and y")
    with loaded as archive:
        keys = list(archive.files)
        found = {}
        for wanted in ("x", "y"):
            matches = [k for k in keys if k.lower() == wanted]
            if len(matches) != 1:
                problem = "no" if not matches else "ambiguous"
                raise ValueError(
                    f"{path}: {problem} key for {wanted.upper()!r} (case-insensitive); "
                    f"keys found: {keys}"
                )
            found[wanted] = archive[matches[0]]
    X, y = found["x"], found["y"]
    if X.ndim < 2:
        raise ValueError(f"{path}: X must have at least 2 dimensions, got shape {X.shape}")
    if X.ndim > 2:
        X = X.reshape(len(X), -1)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(
            f"{path}: y must be 1-D with one label per row of X; got X {X.shape}, y {y.shape}"
        )
    return X, y

"""Shared bits of the benchmark scripts: machine description, data, result files."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def data_dir(name):
    """Folder of a shared data set: $SKSURGEON_DATA/name, else ../shared/data/name."""
    env = os.environ.get("SKSURGEON_DATA")
    for root in ([Path(env)] if env else []) + [SHARED]:
        if (root / name).is_dir():
            return root / name
    return None


def fashion_mnist(n_train=None, seed=0):
    """Fashion-MNIST (train, test) scaled to [0, 1]; None when the files are absent."""
    from sksurgeon.datasets import load_fashion_mnist

    d = data_dir("fashion-mnist")
    if d is None:
        return None
    X, y = load_fashion_mnist(d, kind="train")
    Xt, yt = load_fashion_mnist(d, kind="t10k")
    if n_train is not None and n_train < len(y):
        idx = np.random.default_rng(seed).permutation(len(y))[:n_train]
        X, y = X[idx], y[idx]
    return X, y, Xt, yt


def cpu_seconds():
    """User + system CPU seconds of this process and its waited-for children, so that
    parallel workers count."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def parse_params(items):
    """``["max_iter=300", "size_weight=0.01"]`` -> dict, values as Python literals."""
    import ast

    out = {}
    for item in items:
        key, value = item.split("=", 1)
        out[key] = ast.literal_eval(value)
    return out


def cpu_model():
    """The processor's name: its kernels' rounding differs, so fits differ across models."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine():
    import sklearn
    import torch

    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        # which vectorised kernels torch dispatches to (e.g. AVX512): results depend on it
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }


def code_version():
    """The commit the benchmark ran from, and whether the working tree differed from it."""
    repo = Path(__file__).resolve().parents[1]

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "sksurgeon")
    except (OSError, subprocess.CalledProcessError):
        # A copy without .git (e.g. the tree sent to a GPU machine) names its commit here.
        given = os.environ.get("SKSURGEON_BENCH_COMMIT")
        return f"{given} (copy of the tree, as given)" if given else "unknown (not a git checkout)"
    return commit + (" with uncommitted changes to sksurgeon/" if dirty else "")


#: Taken when the script starts, as it imports the package then: a commit made or a file
#: edited while a long benchmark runs does not change the code it ran.
CODE_AT_START = code_version()


def header(title, code=None, machine_line=None):
    """A result file's first lines; ``code`` and ``machine_line`` replace the commit and the
    machine lines (e.g. for a file that only combines earlier runs, which record their own)."""
    m = machine()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cmd = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    lines = [
        f"# {title}",
        "",
        f"- command: `{cmd}`",
        f"- date: {now}",
        f"- code: {code or CODE_AT_START}",
        "- machine: " + (machine_line or ", ".join(f"{k} {v}" for k, v in m.items())),
        "",
    ]
    return "\n".join(lines)


def write(name, text):
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(text)
    print(f"\nwritten to {path}")
    return path

"""The command line: default job, user data, outputs, help."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_iris

import sksurgeon
from sksurgeon.cli import main

FAST = ["--max-iter", "20", "--interval", "10", "--learning-rate", "0.02"]


def test_default_job_prints_summary_and_evolution(capsys):
    assert main(FAST) == 0
    out = capsys.readouterr().out
    assert "data: digits, 1797 samples, 64 features, 10 classes" in out
    assert "baseline" in out and "surgeon" in out
    assert "topology evolution (surgeon)" in out and "start: [10]" in out
    assert "decision 1" in out  # progress lines while fitting


def test_csv_with_string_labels_and_outputs(tmp_path, capsys):
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    path = tmp_path / "iris.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", "c", "d", "species"])
        for row, label in zip(X, names, strict=True):
            w.writerow([*row, label])
    model, log = tmp_path / "model.sks", tmp_path / "log.csv"
    argv = [
        "--data",
        str(path),
        "--target",
        "species",
        "--hidden",
        "6",
        "--no-baseline",
        "--save-model",
        str(model),
        "--save-log",
        str(log),
        "-q",
        *FAST,
        "--max-cost",  # two intervals on iris: the default budget leaves no decision point
        "none",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "150 samples, 4 features, 3 classes" in out
    clf = sksurgeon.load(model)
    assert set(clf.classes_) == set(names)
    rows = list(csv.DictReader(open(log)))
    assert rows and {"operation", "score", "selected"} <= set(rows[0])
    assert (tmp_path / "log-history.csv").exists()


def test_npz_and_json_log(tmp_path):
    X, y = load_iris(return_X_y=True)
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=y)
    log = tmp_path / "log.json"
    assert main(["--data", str(path), "--no-baseline", "-q", "--save-log", str(log), *FAST]) == 0
    content = json.loads(log.read_text())
    assert "surgery_log" in content and "decisions" in content


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no such data file"):
        main(["--data", str(tmp_path / "nope.csv")])


def test_bad_hidden_sizes_rejected(capsys):
    with pytest.raises(SystemExit):
        main(["--hidden", "ten"])
    assert "expected widths" in capsys.readouterr().err


def test_max_params_budget_option(tmp_path, capsys):
    model = tmp_path / "model.sks"
    argv = [*FAST, "--hidden", "50", "--max-params", "start", "--no-baseline", "-q"]
    assert main([*argv, "--save-model", str(model)]) == 0
    clf = sksurgeon.load(model)
    assert clf.get_params()["max_params"] == "start"
    assert clf.n_params_ <= 64 * 50 + 50 + 50 * 10 + 10
    for bad in ("0", "many"):
        with pytest.raises(SystemExit):
            main(["--max-params", bad])
        assert "expected a positive parameter count, 'auto'" in capsys.readouterr().err


def test_module_entry_point_help():
    res = subprocess.run(
        [sys.executable, "-m", "sksurgeon", "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: sksurgeon" in res.stdout and "--save-model" in res.stdout


def test_refit_option(capsys):
    assert main([*FAST, "--hidden", "4", "--max-params", "none", "--no-baseline", "--refit"]) == 0
    out = capsys.readouterr().out
    assert "refit from scratch: " in out


def test_max_cost_option(tmp_path, capsys):
    model = tmp_path / "model.sks"
    argv = [*FAST, "--hidden", "4", "--max-cost", "1", "--no-baseline", "-q"]
    assert main([*argv, "--save-model", str(model)]) == 0
    clf = sksurgeon.load(model)
    assert clf.get_params()["max_cost"] == 1.0
    assert clf.stop_reason_ == "max_cost" and clf.hidden_layer_sizes_ == (4,)
    main([*FAST, "--max-cost", "none", "--no-baseline", "-q", "--save-model", str(model)])
    assert sksurgeon.load(model).get_params()["max_cost"] is None
    main([*FAST, "--max-cost", "auto", "--no-baseline", "-q", "--save-model", str(model)])
    assert sksurgeon.load(model).get_params()["max_cost"] == "auto"
    for bad in ("0.5", "lots"):
        with pytest.raises(SystemExit):
            main(["--max-cost", bad])
        assert "expected a number >= 1, 'auto' or 'none'" in capsys.readouterr().err


def test_average_option_reaches_the_saved_model(tmp_path):
    model = tmp_path / "model.sks"
    argv = [*FAST, "--hidden", "4", "--no-baseline", "-q", "--save-model", str(model)]
    for option, value in (("on", True), ("off", False), ("auto", "auto")):
        assert main([*argv, "--average", option]) == 0
        assert sksurgeon.load(model).get_params()["average"] == value

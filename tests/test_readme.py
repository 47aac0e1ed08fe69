"""README's benchmark tables are the result files' figures, not numbers typed by hand."""

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def readme_tables(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    try:
        yield importlib.import_module("readme_tables")
    finally:
        for name in ("readme_tables", "bench_table3", "_common"):
            sys.modules.pop(name, None)


@pytest.mark.parametrize("block", ["defaults", "paper", "large-seeds10"])
def test_readme_table3_is_generated_from_the_current_results(readme_tables, block):
    text = (ROOT / "README.rst").read_text()
    table = readme_tables.block_table(block)
    assert readme_tables.replace_block(text, block, table) == text, (
        f"README.rst's Table 3 ({block}) differs from benchmarks/results/table3_*_current*.csv: "
        "run python benchmarks/readme_tables.py --write"
    )

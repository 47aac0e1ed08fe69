"""README's Table 3 tables, generated from the ``table3_*_current*.csv`` result files.

README quotes results only from files in ``results/``; this script writes its Table 3 tables
between the markers ``.. begin table3-<name>`` and ``.. end table3-<name>`` so that nothing
there is copied by hand: one per configuration (``defaults``, ``paper``: both data sets, all
three start topologies, from ``table3_*_<config>_current.csv``) and ``large-seeds10``, the
large start with ten seeds in each data set and configuration (from
``table3_*_current_large_seeds10.csv``). It fits nothing.

Usage::

    python benchmarks/readme_tables.py            # print the tables
    python benchmarks/readme_tables.py --write    # replace them in README.rst
"""

import argparse
import re
import statistics
from pathlib import Path

from _common import RESULTS
from bench_table3 import TOPOLOGIES, cells_of, fmt, read_rows, summary

README = Path(__file__).resolve().parents[1] / "README.rst"
DATASETS = {"fashion-mnist": "Fashion-MNIST", "mnist": "MNIST"}
FIGURES = ("baseline", "Surgeon", "per seed [points]", "params", "epochs", "wall")
COLUMNS = ("data, start", *FIGURES)
CONFIGS = ("defaults", "paper")
BLOCKS = (*CONFIGS, "large-seeds10")


def figures(label, cells):
    """``label`` and the figures of one table cell's fits, as README's columns show them."""
    fig = summary(cells)
    d = fig["gain"]
    return (
        label,
        fmt(fig["baseline"]),
        fmt(fig["surgeon"]),
        f"{statistics.mean(d):+.2f} ± {statistics.stdev(d):.2f} ({fig['wins']} of {len(d)})",
        f"{statistics.mean(fig['growth']):+.0f} %",
        f"{fig['epochs_ratio']:.2f}",
        f"{fig['wall_ratio']:.2f}",
    )


def table_rows(config):
    """One row of figures per data set and start topology, from ``*_{config}_current.csv``."""
    out = []
    for dataset, name in DATASETS.items():
        rows = read_rows(RESULTS / f"table3_{dataset}_{config}_current.csv")
        for topo in TOPOLOGIES:
            cells = cells_of(rows, topo)
            if cells:
                out.append(figures(f"{name}, {topo}", cells))
    return out


def large_seeds10_rows():
    """One row per data set and configuration, from ``*_current_large_seeds10.csv``."""
    return [
        figures(
            f"{name}, {config}",
            cells_of(
                read_rows(RESULTS / f"table3_{dataset}_{config}_current_large_seeds10.csv"),
                "large",
            ),
        )
        for dataset, name in DATASETS.items()
        for config in CONFIGS
    ]


def block_table(name):
    """The table README shows between the markers of block ``name`` (one of :data:`BLOCKS`)."""
    if name == "large-seeds10":
        return rst_table(large_seeds10_rows(), ("data, config", *FIGURES))
    return rst_table(table_rows(name))


def rst_table(rows, columns=COLUMNS):
    """A simple reStructuredText table of ``rows`` under ``columns``."""
    widths = [max(len(r[k]) for r in [columns, *rows]) for k in range(len(columns))]
    rule = "  ".join("=" * w for w in widths)

    def line(r):
        return "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()

    return "\n".join([rule, line(columns), rule, *map(line, rows), rule])


def replace_block(text, name, table):
    begin, end = f".. begin table3-{name}", f".. end table3-{name}"
    pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.rst has no '{begin}' ... '{end}' block")
    return pattern.sub(lambda _: f"{begin}\n\n{table}\n\n{end}", text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="replace the tables in README.rst")
    args = ap.parse_args()
    text = README.read_text()
    for name in BLOCKS:
        table = block_table(name)
        print(f"{name}:\n{table}\n")
        text = replace_block(text, name, table)
    if args.write:
        README.write_text(text)
        print(f"written to {README}")


if __name__ == "__main__":
    main()

"""README's two Table 3 tables, generated from the ``table3_*_current.csv`` result files.

README quotes results only from files in ``results/``; this script writes its Table 3 tables
(one per configuration: both data sets, all three start topologies) between the markers
``.. begin table3-<config>`` and ``.. end table3-<config>`` so that nothing there is copied by
hand. It fits nothing.

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
COLUMNS = ("data, start", "baseline", "Surgeon", "per seed [points]", "params", "epochs", "wall")


def table_rows(config):
    """One row of figures per data set and start topology, from ``*_{config}_current.csv``."""
    out = []
    for dataset, name in DATASETS.items():
        rows = read_rows(RESULTS / f"table3_{dataset}_{config}_current.csv")
        for topo in TOPOLOGIES:
            cells = cells_of(rows, topo)
            if not cells:
                continue
            fig = summary(cells)
            d = fig["gain"]
            out.append(
                (
                    f"{name}, {topo}",
                    fmt(fig["baseline"]),
                    fmt(fig["surgeon"]),
                    f"{statistics.mean(d):+.2f} ± {statistics.stdev(d):.2f} "
                    f"({fig['wins']} of {len(d)})",
                    f"{statistics.mean(fig['growth']):+.0f} %",
                    f"{fig['epochs_ratio']:.2f}",
                    f"{fig['wall_ratio']:.2f}",
                )
            )
    return out


def rst_table(rows):
    """A simple reStructuredText table of ``rows`` under :data:`COLUMNS`."""
    widths = [max(len(r[k]) for r in [COLUMNS, *rows]) for k in range(len(COLUMNS))]
    rule = "  ".join("=" * w for w in widths)

    def line(r):
        return "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()

    return "\n".join([rule, line(COLUMNS), rule, *map(line, rows), rule])


def replace_block(text, config, table):
    begin, end = f".. begin table3-{config}", f".. end table3-{config}"
    pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.rst has no '{begin}' ... '{end}' block")
    return pattern.sub(lambda _: f"{begin}\n\n{table}\n\n{end}", text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="replace the tables in README.rst")
    args = ap.parse_args()
    text = README.read_text()
    for config in ("defaults", "paper"):
        table = rst_table(table_rows(config))
        print(f"{config}:\n{table}\n")
        text = replace_block(text, config, table)
    if args.write:
        README.write_text(text)
        print(f"written to {README}")


if __name__ == "__main__":
    main()

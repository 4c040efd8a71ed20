"""An HTML rendering of a table's CSV, so Snakemake's report shows the table in the page.

Usage (the table rule runs it): python -m tracefl.report.table_html TABLE.csv TABLE.html "Title"
"""

from __future__ import annotations

import html
import sys
from pathlib import Path

import pandas as pd


def write_table_html(csv: Path, out: Path, title: str) -> None:
    """Write the CSV as one standalone HTML page (title, then every row and column)."""
    frame = pd.read_csv(csv)
    body = frame.to_html(index=False, na_rep="", border=0, float_format=lambda v: f"{v:.4g}")
    out.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;font-size:13px} table{border-collapse:collapse}"
        "th,td{padding:2px 6px;border-bottom:1px solid #ddd;text-align:right} th{position:sticky;top:0;background:#f4f4f4}"
        f"</style></head><body><h3>{html.escape(title)}</h3>{body}</body></html>\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python -m tracefl.report.table_html TABLE.csv TABLE.html TITLE")
    write_table_html(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])

"""A table as the paper prints it: a handful of columns and a one-sentence caption in ``.md``
and ``.tex``; every column at full precision in the ``.csv``.

The CSV is what code reads (figures, tests, a user's analysis): its columns never depend on
how the table is shown. The Markdown and LaTeX show :class:`Shown` columns only: short
headers, percentages to one decimal, the lead metric as ``mean [low, high]`` where several
seeds give it an interval, and a dagger on the model accuracy of an inconclusive setting
(the model stayed below its dataset's learned accuracy). The LaTeX is a plain ``tabular``
(``\\hline`` rules, no package needed) in ``table*`` when it is wide, ``\\footnotesize``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from tracefl.report.seeds import HIGH, LOW

#: The mark of an inconclusive setting's model accuracy.
DAGGER = "†"


@dataclass(frozen=True)
class Shown:
    """One column of the printed table: the CSV column it shows and its header."""

    column: str
    header: str
    #: "text", "number" (a setting, as written), "count" (an integer) or "pct" (one decimal).
    kind: str = "pct"
    #: Shown as ``mean [low, high]`` where the CSV has its interval (the table's lead metric).
    interval: bool = False
    #: The model accuracy: a dagger where the row's ``conclusive`` is False.
    dagger: bool = False


def short_names(names: pd.Series) -> pd.Series:
    """Dataset names without their parenthesis ('Digits (scikit-learn 8x8)' -> 'Digits'),
    unless two datasets of the table would then read the same."""
    short = names.astype(str).str.split(" (", n=1, regex=False).str[0]
    clash = short.groupby(short).transform(lambda s: names[s.index].nunique() > 1)
    return short.where(~clash, names)


def _cell(row: pd.Series, shown: Shown) -> str:
    value = row.get(shown.column, float("nan"))
    if shown.kind == "text":
        return "NA" if pd.isna(value) else str(value)
    if pd.isna(value):
        return "NA"
    if shown.kind == "count":
        return str(int(value))
    if shown.kind == "number":
        return f"{float(value):g}"
    text = f"{float(value):.1f}"
    low, high = row.get(shown.column + LOW, float("nan")), row.get(shown.column + HIGH, float("nan"))
    if shown.interval and not (pd.isna(low) or pd.isna(high)):
        text += f" [{low:.1f}, {high:.1f}]"
    if shown.dagger and "conclusive" in row and not bool(row["conclusive"]):
        text += DAGGER
    return text


def printed(table: pd.DataFrame, columns: Sequence[Shown]) -> pd.DataFrame:
    """The cells of the printed table (strings), headed by the :class:`Shown` headers."""
    source = table.copy()
    if "dataset" in source.columns:
        source["dataset"] = short_names(source["dataset"])
    return pd.DataFrame([[_cell(row, shown) for shown in columns] for _, row in source.iterrows()],
                        columns=[shown.header for shown in columns])


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "α": r"$\alpha$", "Σ": r"$\Sigma$",
        DAGGER: r"$^\dagger$"}


def tex_escape(text: str) -> str:
    """``text`` as LaTeX source: its special characters escaped, '->' an arrow."""
    escaped = "".join(_TEX.get(char, char) for char in text)
    return escaped.replace("->", r"$\to$")


def markdown(cells: pd.DataFrame, columns: Sequence[Shown], caption: str) -> str:
    align = ["left" if shown.kind == "text" else "right" for shown in columns]
    return f"{caption}\n\n{cells.to_markdown(index=False, colalign=align, disable_numparse=True)}\n"


def latex(cells: pd.DataFrame, columns: Sequence[Shown], caption: str, label: str) -> str:
    """A plain ``tabular`` with ``\\hline`` rules; ``table*`` (both columns of the page) when wide."""
    env = "table*" if len(columns) > 7 else "table"
    spec = "".join("l" if shown.kind == "text" else "r" for shown in columns)
    lines = [f"\\begin{{{env}}}[t]", "\\centering", f"\\caption{{{tex_escape(caption)}}}", f"\\label{{{label}}}",
             "\\footnotesize", "\\setlength{\\tabcolsep}{3.5pt}", f"\\begin{{tabular}}{{{spec}}}", "\\hline",
             " & ".join(tex_escape(shown.header) for shown in columns) + " \\\\", "\\hline"]
    lines += [" & ".join(tex_escape(cell) for cell in row) + " \\\\" for row in cells.itertuples(index=False)]
    lines += ["\\hline", "\\end{tabular}", f"\\end{{{env}}}"]
    return "\n".join(lines) + "\n"


def write_table(table: pd.DataFrame, prefix: str | Path, caption: str, columns: Sequence[Shown],
                printed_from: pd.DataFrame | None = None) -> None:
    """``prefix.csv`` (``table`` as it is), ``prefix.md`` and ``prefix.tex`` (``columns`` of ``table``, or of
    ``printed_from`` where the printed table is shaped otherwise, and ``caption``)."""
    prefix = Path(prefix)
    table.to_csv(prefix.with_suffix(".csv"), index=False)
    cells = printed(table if printed_from is None else printed_from, columns)
    prefix.with_suffix(".md").write_text(markdown(cells, columns, caption))
    prefix.with_suffix(".tex").write_text(latex(cells, columns, caption, f"tab:{prefix.name}"))

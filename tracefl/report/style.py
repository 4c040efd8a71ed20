"""One look for every figure of the report, sized for the paper's two-column page.

A figure spans the text width (7 in) or one column (3.5 in) and its text stays legible at
that size (8 pt, no smaller). What the paper plots leads: TraceFL's localization accuracy
and the global model's accuracy, strong, with their 95% band or error bars where a setting
has several seeds. What a reader compares them with (TraceFL's strict metric, the last
layer alone, the label-count rule, FedDebug) is thin and lighter, and chance is grey and
dotted. The label-count rule is perfect on the strict metric by construction, so it is drawn
as crosses over every other line: at 100% it shows on top of TraceFL instead of under it.
One legend per figure, below the panels.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.textpath import TextPath  # noqa: E402

#: The paper's text width and column width (two-column IEEE), in inches.
FULL_WIDTH_IN = 7.0
COLUMN_WIDTH_IN = 3.5
#: The smallest text of a figure, in points, at the sizes above.
FONT_PT = 8.0
#: Panel titles, a little larger.
TITLE_PT = FONT_PT + 0.5
#: Height of a panel (with its title and axis labels) in a figure of several columns, and of one alone.
PANEL_HEIGHT_IN = 2.1
COLUMN_PANEL_HEIGHT_IN = 2.5
#: A legend entry's handle and the gaps around its text, in inches (sets how many columns fit).
_HANDLE_IN = 0.45
#: PNG resolution (a 7-inch figure is 1400 pixels wide in a browser).
PNG_DPI = 200

RC = {
    "font.size": FONT_PT,
    "axes.titlesize": TITLE_PT,
    "axes.labelsize": FONT_PT,
    "xtick.labelsize": FONT_PT,
    "ytick.labelsize": FONT_PT,
    "legend.fontsize": FONT_PT,
    "legend.title_fontsize": FONT_PT,
    "figure.titlesize": FONT_PT + 1,
    "axes.titlepad": 4.0,
    "axes.linewidth": 0.6,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.4,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "lines.linewidth": 1.0,
    "pdf.fonttype": 42,  # TrueType in the PDF: text stays text
}


#: Legend groups: the paper's metric (label held) and the strict metric (top holder) that the
#: baselines are scored on; a grouped legend is one row (or column) per group, named by its header.
PAPER, STRICT = "paper", "strict"
GROUP_HEADERS = {PAPER: "Paper's metric:", STRICT: "Strict (top holder):"}


@dataclass(frozen=True)
class Look:
    """How one method or level is drawn, as a line and as a bar."""

    label: str
    color: str
    ls: str | tuple = "-"
    marker: str = ""
    lw: float = 1.0
    alpha: float = 1.0
    ms: float = 3.0
    zorder: float = 2.0
    hatch: str = ""
    #: What the paper plots: drawn strong, with a 95% band / error bars over seeds.
    lead: bool = False
    #: On a long curve, markers between the lead's (the label-count rule's crosses beside TraceFL's dots).
    between: bool = False
    #: Its legend group (:data:`GROUP_HEADERS`) and its text there ('': the label).
    group: str = ""
    short: str = ""

    def line(self, n_points: int = 0, **extra) -> dict:
        """Keyword arguments of ``Axes.plot``; markers thinned to about 12 on long curves."""
        kwargs = dict(color=self.color, ls=self.ls, lw=self.lw, alpha=self.alpha, zorder=self.zorder,
                      label=self.label, marker=self.marker or None, ms=self.ms, mew=0.8)
        if self.marker and n_points > 15:
            step = max(1, round(n_points / 12))
            kwargs["markevery"] = (step // 2 if self.between else 0, step)
        if n_points == 1 and not self.marker:  # a line of one point is not drawn: a tick instead
            kwargs.update(marker="_", ms=10)
        if self.marker in ("o", "s", "D") and not self.lead:
            kwargs["mfc"] = "none"
        return {**kwargs, **extra}

    def bar(self, **extra) -> dict:
        """Keyword arguments of ``Axes.bar``."""
        face = self.color if self.lead else _lighter(self.color)
        return {"color": face, "edgecolor": self.color, "linewidth": 0.6, "hatch": self.hatch or None,
                "label": self.label, "zorder": 2, **extra}


def _lighter(color: str, amount: float = 0.65) -> tuple[float, float, float]:
    """``color`` mixed with white: a baseline's bar face."""
    rgb = np.array(matplotlib.colors.to_rgb(color))
    return tuple(rgb + (1 - rgb) * amount)


#: Red marks a run whose model did not learn enough for its traces to be read.
INCONCLUSIVE_COLOR = "tab:red"
#: Every method and level the figures draw (labels are unique: the legend merges panels by label).
LOOKS: dict[str, Look] = {
    "tracefl": Look("TraceFL localization acc.", "tab:blue", "-", "o", lw=1.8, ms=3.5, zorder=4, lead=True,
                    group=PAPER, short="TraceFL"),
    "model": Look("Global model acc.", "tab:orange", "-", "^", lw=1.8, ms=3.5, zorder=3.5, lead=True, group=PAPER),
    "model_best": Look("Best global model acc.", "tab:orange", "-", "^", lw=1.8, ms=3.5, zorder=3.5, lead=True,
                       group=PAPER),
    "chance": Look("Chance (random participant)", "0.45", ":", "", lw=1.0, zorder=1.5, group=PAPER, short="Chance"),
    "inconclusive": Look("Inconclusive: model below its learned accuracy", INCONCLUSIVE_COLOR, "none", "o", ms=9,
                         zorder=6, group=PAPER, short="Inconclusive run"),
    "tracefl_strict": Look("TraceFL, strict (top holder)", "tab:blue", "--", "s", lw=0.9, alpha=0.7, ms=3,
                           zorder=3, group=STRICT, short="TraceFL"),
    "last_layer": Look("Last layer only", "tab:purple", "-.", "", lw=0.9, alpha=0.6, zorder=2.5, hatch="\\\\\\",
                       group=STRICT),
    # crosses over every line: perfect by construction, it must not vanish under TraceFL at 100%
    "label_count": Look("Label-count rule", "0.2", "-", "x", lw=0.5, alpha=0.75, ms=4.5, zorder=5, hatch="...",
                        between=True, group=STRICT),
    "chance_strict": Look("Chance, strict", "0.65", (0, (1, 2.5)), "", lw=1.0, zorder=1.5, group=STRICT,
                          short="Chance"),
    "feddebug": Look("FedDebug", "0.35", "--", "D", lw=0.9, alpha=0.8, ms=3, zorder=2.5, hatch="///"),
    # The repair item (tracefl.report.repair): whom to exclude, or a robust strategy instead of FedAvg.
    "audit": Look("TraceFL audit: drop flagged", "tab:blue", lead=True, short="TraceFL audit"),
    "audit_confirmed": Look("TraceFL audit, flags confirmed by exclusion", "tab:blue", hatch="//", lead=True,
                            short="Audit, confirmed"),
    "oracle": Look("Oracle: drop the faulty", "tab:green", hatch="xx"),
    "random": Look("Random pick, same size", "0.55", hatch="--"),
    "before": Look("Before (nobody dropped)", "black", "--", lw=0.9, zorder=4),
    "attack": Look("Backdoor attack success", "tab:red", "none", "v", ms=4, zorder=5),
    "Krum": Look("Krum", "tab:purple", hatch="\\\\"),
    "MultiKrum": Look("MultiKrum", "tab:brown", hatch="//"),
    "Bulyan": Look("Bulyan", "tab:pink", hatch=".."),
    "FedMedian": Look("FedMedian", "tab:olive", hatch="++"),
    "FedTrimmedAvg": Look("FedTrimmedAvg", "tab:cyan", hatch="oo"),
}


@contextmanager
def paper_style() -> Iterator[None]:
    """Matplotlib settings of every report figure (fonts at :data:`FONT_PT`)."""
    with plt.rc_context(RC):
        yield


def grid_shape(n_panels: int, max_cols: int = 3) -> tuple[int, int]:
    """Rows and columns of a figure of ``n_panels`` panels (4 as 2 x 2)."""
    cols = 2 if n_panels == 4 else min(max(n_panels, 1), max_cols)
    return math.ceil(max(n_panels, 1) / cols), cols


def figure_width(cols: int) -> float:
    """One column for a single panel, the text width for more."""
    return COLUMN_WIDTH_IN if cols == 1 else FULL_WIDTH_IN


#: Legend entries that are levels or marks, not methods: listed after the methods.
_LAST = {LOOKS[key].label for key in ("chance", "chance_strict", "inconclusive")}


def legend_entries(axes) -> tuple[list, list[str]]:
    """Every panel's legend entries once (an entry may be on one panel only): methods in the order
    first drawn, then chance and the inconclusive mark."""
    handles: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    labels = sorted(handles, key=lambda label: label in _LAST)
    return [handles[label] for label in labels], labels


def text_width_in(text: str, size: float = FONT_PT) -> float:
    """Width of ``text`` at ``size`` points, in inches (its glyphs' outlines, unhinted: a line
    drawn at a low resolution comes out a few percent wider; :func:`fit_titles` measures that)."""
    return TextPath((0, 0), text, size=size).get_extents().width / 72 if text else 0.0


def join_within(pieces: Sequence[str], width_in: float, size: float, sep: str = " · ") -> list[str]:
    """``pieces`` joined by ``sep`` into lines, a new line wherever the next would pass ``width_in``."""
    lines: list[str] = []
    for piece in (p for p in pieces if p):
        candidate = f"{lines[-1]}{sep}{piece}" if lines else piece
        if lines and text_width_in(candidate, size) <= width_in:
            lines[-1] = candidate
        else:
            lines.append(piece)
    return lines


def fit_text(text: str, width_in: float, size: float) -> str:
    """Every line of ``text`` wider than ``width_in`` broken at its `` · ``, then between words
    (a single word wider than that stays whole)."""
    fitted: list[str] = []
    for line in text.split("\n"):
        if text_width_in(line, size) <= width_in:
            fitted.append(line)
            continue
        for part in join_within(line.split(" · "), width_in, size):
            words = re.split(r" (?![^(]*\))(?![<>=] )(?<=[^<>=] )", part)  # "(all 3 seeds)", "40% < 85%" stay whole
            fitted += [part] if text_width_in(part, size) <= width_in else join_within(words, width_in, size, " ")
    return "\n".join(fitted)


#: Room kept between a title and the figure's edge or its neighbour's title, in inches.
TITLE_GAP_IN = 0.08


def _title_span_px(fig: plt.Figure, ax, axes: Sequence, renderer) -> tuple[float, float]:
    """Where a text centred over ``ax`` may lie, in pixels: within the figure, and clear of the texts
    centred over the panels beside it (each may take half the way to the other). On a row's first or
    last panel the figure's edge bounds one side only, so a title there may sit off-centre rather
    than wrap to twice its distance from the edge (the quick Figure 2's last panel took 4 lines)."""
    gap = TITLE_GAP_IN * fig.dpi
    lo, hi = fig.bbox.x0 + gap, fig.bbox.x1 - gap
    box = ax.get_window_extent(renderer)
    centre = (box.x0 + box.x1) / 2
    for other in axes:
        other_box = other.get_window_extent(renderer)
        if other is not ax and other_box.y0 < box.y1 and box.y0 < other_box.y1:  # the same row
            middle = ((other_box.x0 + other_box.x1) / 2 + centre) / 2
            if middle < centre:
                lo = max(lo, middle + gap / 2)
            else:
                hi = min(hi, middle - gap / 2)
    return lo, max(hi, lo + gap)


def _move_px(text, dx_px: float, ax) -> None:
    """Move a title (axes fraction) or a :func:`note` (offset points) sideways by ``dx_px`` pixels."""
    if hasattr(text, "xyann"):
        x, y = text.xyann
        text.xyann = (x + dx_px * 72 / ax.figure.dpi, y)
    else:
        text.set_x(text.get_position()[0] + dx_px / ax.get_window_extent().width)


def fit_titles(fig: plt.Figure) -> None:
    """Re-wrap each panel's title (and the notes centred above it) to the room it has, and move it
    off-centre where a figure's edge is nearer than its neighbour: constrained layout makes room for
    a title's height only, so a title wider than its panel would run past the figure's edge or into
    its neighbour's (as a long title on the last column did)."""
    for _ in range(4):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        axes = [ax for ax in fig.axes if ax.get_visible()]
        changed = False
        for ax in axes:
            lo, hi = _title_span_px(fig, ax, axes, renderer)
            for text in [ax.title, *(t for t in ax.texts if t.get_ha() == "center")]:
                if not text.get_visible() or not text.get_text().strip():
                    continue
                box = text.get_window_extent(renderer)
                if box.width > hi - lo:
                    size = text.get_fontsize()
                    # drawn lines come out wider than measured: scale the room by that ratio
                    measured = max(text_width_in(line, size) for line in text.get_text().split("\n")) * fig.dpi
                    fitted = fit_text(text.get_text(), (hi - lo) / fig.dpi * min(1.0, measured / box.width), size)
                    if fitted != text.get_text():
                        text.set_text(fitted)
                        changed = True
                        continue
                shift = lo - box.x0 if box.x0 < lo else (hi - box.x1 if box.x1 > hi else 0.0)
                if abs(shift) > 0.5:
                    _move_px(text, shift, ax)
                    changed = True
            _room_for_notes(ax, renderer)
        if not changed:
            return


def _room_for_notes(ax, renderer) -> None:
    """A title above a :func:`note` of several lines is raised by the lines added."""
    notes = [t for t in ax.texts if t.get_ha() == "center" and "\n" in t.get_text()]
    if notes:
        tallest = max(notes, key=lambda t: t.get_text().count("\n"))
        lines = tallest.get_text().count("\n") + 1
        added_pt = tallest.get_window_extent(renderer).height * 72 / ax.figure.dpi * (lines - 1) / lines
        ax.set_title(ax.title.get_text(), pad=NOTE_PAD + added_pt + 2, fontsize=ax.title.get_fontsize())


def _blank() -> Rectangle:
    return Rectangle((0, 0), 0, 0, visible=False)


def legend_below(fig: plt.Figure, axes: Sequence, width_in: float, grouped: bool = True) -> None:
    """One compact legend for the whole figure, under its panels (constrained layout makes room).

    ``grouped`` and entries in both :data:`GROUP_HEADERS` groups: each group is one row headed by
    its name (on a column-wide figure: one column); otherwise as many columns as fit the width.
    """
    handles, labels = legend_entries(axes)
    if not labels:
        return
    by_label = {look.label: look for look in LOOKS.values()}
    groups: dict[str, list[tuple[object, str]]] = {}
    for handle, label in zip(handles, labels):
        look = by_label.get(label)
        groups.setdefault(look.group if look else "", []).append((handle, (look.short or label) if look else label))
    kwargs = dict(loc="outside lower center", frameon=False, handlelength=2.0, columnspacing=1.0,
                  handletextpad=0.4, borderaxespad=0.2, labelspacing=0.3)
    if grouped and set(groups) == {PAPER, STRICT}:
        rows = [[(_blank(), GROUP_HEADERS[g]), *groups[g]] for g in (PAPER, STRICT)]
        length = max(len(r) for r in rows)
        rows = [r + [(_blank(), "")] * (length - len(r)) for r in rows]
        needed = sum(max(text_width_in(t) for _, t in column) + _HANDLE_IN for column in zip(*rows))
        if needed <= width_in:  # one row per group: entries column by column, each column across the rows
            cells, ncol = [cell for column in zip(*rows) for cell in column], length
        else:  # one column per group
            cells, ncol = [cell for row in rows for cell in row], len(rows)
        _grow_for(fig, fig.legend([h for h, _ in cells], [t for _, t in cells], ncol=ncol, **kwargs))
        return
    ncol = next(n for n in range(len(labels), 0, -1) if _columns_width_in(labels, n) <= width_in or n == 1)
    _grow_for(fig, fig.legend(handles, labels, ncol=ncol, **kwargs))


def _columns_width_in(labels: Sequence[str], ncol: int) -> float:
    """Width of a legend of ``labels`` in ``ncol`` columns (filled column by column), handles included."""
    rows = math.ceil(len(labels) / ncol)
    columns = [labels[i:i + rows] for i in range(0, len(labels), rows)]
    return sum(max(text_width_in(t) for t in column) + _HANDLE_IN for column in columns)


def _grow_for(fig: plt.Figure, legend) -> None:
    """Make the figure taller by the legend's height: the panels keep their size, whatever the legend's."""
    height = legend.get_window_extent(fig.canvas.get_renderer()).height / fig.dpi
    fig.set_figheight(fig.get_figheight() + height)


def panel_width_in(fig: plt.Figure, cols: int) -> float:
    """The room a panel's title has: its share of the figure's width less the tick labels."""
    return fig.get_figwidth() / cols - 0.3


def new_figure(rows: int, cols: int, panel_height_in: float | None = None, width_in: float | None = None,
               **kwargs) -> tuple[plt.Figure, np.ndarray]:
    """A figure of ``rows`` x ``cols`` panels laid out by matplotlib's constrained layout."""
    width = width_in or figure_width(cols)
    panel_height_in = panel_height_in or (COLUMN_PANEL_HEIGHT_IN if cols == 1 else PANEL_HEIGHT_IN)
    fig, axes = plt.subplots(rows, cols, figsize=(width, panel_height_in * rows + 0.3), squeeze=False,
                             layout="constrained", **kwargs)
    fig.get_layout_engine().set(h_pad=0.04, w_pad=0.04, hspace=0.06, wspace=0.04)
    return fig, axes


def hide_unused(axes: np.ndarray, used: int) -> None:
    for ax in axes.flat[used:]:
        ax.set_visible(False)


def accuracy_axis(ax) -> None:
    """The y axis of every accuracy panel: 0-100% with a little room, light grid."""
    ax.set_ylim(-3, 103)
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.grid(True)
    ax.set_axisbelow(True)


def label_outer(axes: np.ndarray, used: int, xlabel: str, ylabel: str = "Accuracy (%)") -> None:
    """Axis labels once per row and column: the y label on the first column, the x label on the
    lowest panel of each column (the room goes to the panels)."""
    rows, cols = axes.shape
    for i in range(used):
        ax = axes.flat[i]
        if i % cols == 0:
            ax.set_ylabel(ylabel)
        if i + cols >= used:
            ax.set_xlabel(xlabel)


def note(ax, text: str) -> None:
    """A red line between a panel's title and its frame (give the title room: ``pad=NOTE_PAD``): never over data."""
    ax.annotate(text, xy=(0.5, 1.0), xycoords="axes fraction", xytext=(0, 2), textcoords="offset points",
                ha="center", va="bottom", color=INCONCLUSIVE_COLOR)


#: The title pad of a panel with a :func:`note`, in points.
NOTE_PAD = FONT_PT + 6


def save_figure(fig: plt.Figure, prefix: Path) -> None:
    """``prefix.pdf`` and ``prefix.png`` (:data:`PNG_DPI`), titles fitted to the figure, then the figure is closed."""
    fit_titles(fig)
    fig.savefig(prefix.with_suffix(".pdf"))
    fig.savefig(prefix.with_suffix(".png"), dpi=PNG_DPI)
    plt.close(fig)

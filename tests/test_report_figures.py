"""Figures and tables as a reader of the paper sees them: what leads, where the legend is, what
a title says, no interval drawn for a single seed, tables of a handful of columns."""

import re

import matplotlib.pyplot as plt
from matplotlib.backends.backend_agg import FigureCanvasAgg
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.text import Text

from tracefl.config import RunSpec
from tracefl.report import figures, ground_truth, rounds_plot, style, tables
from tracefl.config.items import get_item
from tracefl.report.results import RunResult
from tracefl.report.style import FONT_PT, FULL_WIDTH_IN, LOOKS


def _result(seed: int = 1, held=(1.0, 1.0), accuracy=(0.9, 0.95), **settings) -> RunResult:
    spec = RunSpec(**{"dataset": "digits", "model": "cnn", "rounds": len(accuracy), "seed": seed, **settings})
    rounds = pd.DataFrame({"round": range(1, len(accuracy) + 1), "global_accuracy": list(accuracy)})
    provenance = pd.DataFrame({"round": range(1, len(accuracy) + 1), "kind": "correct", "label_held": list(held),
                               "label_held_chance": 0.5, "top_holder": 0.5, "top_holder_chance": 0.25,
                               "top_holder_label_count": 1.0, "top_holder_last_layer": 0.5, "seconds": 0.1})
    return RunResult(spec, rounds, provenance)


def _faulty(seed: int, hit: float, runs_dir=None, **settings) -> RunResult:
    """A faulty run; with ``runs_dir``, placed there beside its fault-free twin's rounds (Table I reads them)."""
    r = _result(seed, faulty_clients=(0,), label_flip=((7, 1),), clients_per_round=10, **settings)
    mis = pd.DataFrame({"round": [1, 2], "kind": "misprediction", "faulty_traced": hit, "faulty_chance": 0.1,
                        "faulty_traced_label_count": 1.0, "faulty_traced_last_layer": 0.0, "seconds": 0.1})
    run_dir = None
    if runs_dir is not None:
        run_dir = runs_dir / r.spec.run_id
        twin = runs_dir / r.spec.fault_free_twin.run_id
        twin.mkdir(parents=True, exist_ok=True)
        r.rounds.to_csv(twin / "rounds.csv", index=False)
    return RunResult(r.spec, r.rounds, pd.concat([r.provenance, mis], ignore_index=True), run_dir=run_dir)


def _planted(seed: int, scenario: str, hit: float) -> RunResult:
    r = _result(seed, scenario=scenario, clients_per_round=4, alpha=1.0)
    planted = pd.DataFrame({"round": [1, 1, 2, 2], "kind": scenario, "truth_client": 0, "truth_traced": hit,
                            "truth_traced_last_layer": 0.0, "truth_traced_label_count": 0.5, "truth_chance": 0.25,
                            "planted_rate": 1.0, "seconds": 0.1})
    planted = pd.concat([planted] * 10, ignore_index=True)  # enough planted inputs to be conclusive
    return RunResult(r.spec, r.rounds, pd.concat([r.provenance, planted], ignore_index=True))


@pytest.fixture
def drawn(monkeypatch):
    """The figures the builders save (as they save them: titles fitted, files written), kept to be inspected."""
    kept: list[plt.Figure] = []

    def keep(fig, prefix):
        style.save_figure(fig, prefix)
        FigureCanvasAgg(fig).draw()  # closing the figure took its canvas
        kept.append(fig)

    for module in (figures, rounds_plot, ground_truth):
        monkeypatch.setattr(module, "save_figure", keep)
    yield kept
    for fig in kept:
        plt.close(fig)


def _error_bars(fig) -> int:
    return sum(isinstance(c, ErrorbarContainer) for ax in fig.axes for c in ax.containers)


def _bands(fig) -> int:
    return sum(isinstance(c, PolyCollection) for ax in fig.axes for c in ax.collections)


def _sweep(alphas_seeds: dict[float, list[float]]) -> list[RunResult]:
    return [_result(seed, held=(held, held), alpha=alpha)
            for alpha, values in alphas_seeds.items() for seed, held in enumerate(values, start=1)]


def test_a_single_seed_point_gets_no_error_bar(drawn, tmp_path):
    figures.figure3(_sweep({0.3: [0.9], 1.0: [1.0]}), tmp_path / "f3", get_item("figure3"))
    assert _error_bars(drawn[-1]) == 0
    # two seeds of one setting: its mean has an interval, and only that point carries bars (TraceFL, model)
    figures.figure3(_sweep({0.3: [0.6, 0.9], 1.0: [1.0]}), tmp_path / "f3", get_item("figure3"))
    bars = [c for ax in drawn[-1].axes for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2 and all(len(bar.lines[2][0].get_segments()) == 1 for bar in bars)
    assert all(bar.lines[2][0].get_segments()[0][0][0] == 0 for bar in bars)  # alpha 0.3: the first position


def test_a_single_seed_curve_gets_no_band(drawn, tmp_path):
    figures.figure2([_result(1)], tmp_path / "f2", get_item("figure2"))
    assert _bands(drawn[-1]) == 0
    figures.figure2([_result(1, held=(0.5, 1.0)), _result(2, held=(0.9, 0.7))], tmp_path / "f2", get_item("figure2"))
    assert _bands(drawn[-1]) >= 1


def test_single_run_bars_get_no_error_bar(drawn, tmp_path):
    figures.figure6([_faulty(1, 1.0)], tmp_path / "f6", get_item("figure6"))
    assert _error_bars(drawn[-1]) == 0
    ground_truth.figure([_planted(1, "style", 1.0), _planted(1, "backdoor", 0.5)], tmp_path / "gt",
                        get_item("ground_truth"))
    assert _error_bars(drawn[-1]) == 0
    ground_truth.figure([_planted(s, "style", hit) for s, hit in ((1, 1.0), (2, 0.5))], tmp_path / "gt",
                        get_item("ground_truth"))
    assert _error_bars(drawn[-1]) == 3  # two seeds: each method's bar (TraceFL, last layer, label count) has one


@pytest.mark.parametrize("build", ["figure2", "figure3", "figure4", "figure6", "ground_truth"])
def test_every_figure_reads_at_the_papers_size(drawn, tmp_path, build):
    """Text of at least 8 pt on a figure at most the paper's text width; one legend, below the panels,
    under a quarter of the height; every text inside the figure (no cut title)."""
    results = {"figure2": [_result(1), _result(1, alpha=1.0)], "figure3": _sweep({0.3: [0.9], 1.0: [1.0]}),
               "figure4": [_result(1, dp_noise=n, dp_clip=5.0) for n in (0.0, 0.001)],
               "figure6": [_faulty(1, 1.0)], "ground_truth": [_planted(1, "style", 1.0), _planted(1, "backdoor", 0.5)]}
    builder = ground_truth.figure if build == "ground_truth" else getattr(figures, build)
    builder(results[build], tmp_path / build, get_item(build))
    fig = drawn[-1]
    assert fig.get_figwidth() <= FULL_WIDTH_IN
    renderer = fig.canvas.get_renderer()
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert texts and min(t.get_fontsize() for t in texts) >= FONT_PT
    page = fig.bbox
    drawn_in = fig.get_tightbbox(renderer)  # everything drawn (titles, labels, legend), in inches
    assert drawn_in.x0 >= -0.01 and drawn_in.y0 >= -0.01
    assert drawn_in.x1 <= fig.get_figwidth() + 0.01 and drawn_in.y1 <= fig.get_figheight() + 0.01
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)
    legend = fig.legends[0].get_window_extent(renderer)
    panels = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible()]
    assert legend.y1 <= min(p.y0 for p in panels)  # below every panel
    assert legend.height < 0.25 * page.height


def test_titles_name_what_differs_between_panels(drawn, tmp_path):
    figures.figure2([_result(1, alpha=0.3), _result(1, alpha=1.0)], tmp_path / "f2", get_item("figure2"))
    titles = [ax.get_title() for ax in drawn[-1].axes if ax.get_visible()]
    assert len(set(titles)) == 2 and "α=0.3" in titles[0] and "α=1" in titles[1]
    figures.figure2([_result(1, clients_per_round=2), _result(1, dp_noise=0.001, dp_clip=5.0)], tmp_path / "f2",
                    get_item("figure2"))
    titles = [ax.get_title() for ax in drawn[-1].axes if ax.get_visible()]
    assert "2 of 10 clients/round" in titles[0] and "DP noise 0.001, clip 5" in titles[1]


def _inside_and_apart(fig) -> None:
    """Every panel's title and note inside the figure, and clear of the titles beside it."""
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    boxes = []
    for ax in (a for a in fig.axes if a.get_visible()):
        for text in [ax.title, *ax.texts]:
            box = text.get_window_extent(renderer)
            assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1, text.get_text()
            boxes.append((text.get_text(), box))
    for i, (a, box) in enumerate(boxes):
        for b, other in boxes[i + 1:]:
            assert not box.overlaps(other), (a, b)


@pytest.mark.parametrize("panels", [1, 2, 5, 12])
def test_long_titles_and_notes_wrap_inside_the_figure(drawn, tmp_path, panels):
    """The quick Figure 2's (c) title ran past the figure's right edge; at every panel count a long
    title (models, clients, DP) and the inconclusive note wrap to their panel's room."""
    models = ["cnn", "resnet18", "densenet121"]
    results = [_result(1, accuracy=(0.3, 0.4), model=models[i % 3], clients_per_round=4 + i % 7,
                       dp_noise=0.0001 * (i + 1), dp_clip=50.0) for i in range(panels)]
    figures.figure2(results, tmp_path / "f2", get_item("figure2"))
    fig = drawn[-1]
    _inside_and_apart(fig)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert len(titles) == panels and all("DP noise" in t.replace("\n", " ") for t in titles if panels > 1)
    assert panels == 1 or max(t.count("\n") for t in titles) >= 2  # a long title did wrap


def test_a_last_column_title_sits_off_centre_rather_than_wrapping_more():
    """The quick Figure 2's (c) title took 4 lines where (b)'s as long one took 3: a title by the
    figure's edge was wrapped to twice its distance from that edge instead of moved inwards."""
    with style.paper_style():
        fig, axes = style.new_figure(1, 3)
        width = style.panel_width_in(fig, 3)
        for letter, ax in zip("abc", axes.flat):
            ax.set_ylabel("Accuracy (%)")
            ax.set_title(style.fit_text(f"({letter}) MNIST · DenseNet-121 · 10 of 10 clients/round · "
                                        "1717 inputs · mean of 2 seeds", width, style.TITLE_PT))
        style.fit_titles(fig)
        _inside_and_apart(fig)
        lines = [ax.get_title().count("\n") for ax in axes.flat]
        plt.close(fig)
    assert lines[2] <= lines[1], lines


def test_fit_text_breaks_at_the_dots_then_between_words_keeping_a_parenthesis():
    size = style.TITLE_PT
    line = "10 of 10 clients/round · 606 inputs · mean of 3 seeds"
    assert style.fit_text(line, 10.0, size) == line
    room = max(style.text_width_in(t, size) for t in ("10 of 10 clients/round", "606 inputs · mean of 3 seeds"))
    narrow = style.fit_text(line, room + 0.01, size)
    assert narrow.split("\n") == ["10 of 10 clients/round", "606 inputs · mean of 3 seeds"]
    note = style.fit_text("inconclusive: model at 87% < 90% (all 3 seeds)", 1.6, size)
    assert note.split("\n") == ["inconclusive: model at", "87% < 90% (all 3 seeds)"]
    assert all(style.text_width_in(t, size) <= 1.6 for t in note.split("\n"))


def test_tracefl_and_the_model_lead_and_the_label_count_rule_shows_over_tracefl(drawn, tmp_path):
    figures.figure2([_result(1)], tmp_path / "f2", get_item("figure2"))
    lines = {line.get_label(): line for line in drawn[-1].axes[0].get_lines()}
    tracefl, model = lines[LOOKS["tracefl"].label], lines[LOOKS["model"].label]
    label_count, last_layer = lines[LOOKS["label_count"].label], lines[LOOKS["last_layer"].label]
    chance = lines[LOOKS["chance"].label]
    # both at 100% here: the label-count rule is drawn above TraceFL with markers of its own
    assert list(tracefl.get_ydata()) == list(label_count.get_ydata()) == [100.0, 100.0]
    assert label_count.get_zorder() > tracefl.get_zorder() and label_count.get_marker() not in (None, "None", "")
    for baseline in (label_count, last_layer, chance):
        assert baseline.get_linewidth() < min(tracefl.get_linewidth(), model.get_linewidth())


def test_the_inconclusive_note_sits_above_the_data(drawn, tmp_path):
    figures.figure2([_result(1, accuracy=(0.3, 0.4))], tmp_path / "f2", get_item("figure2"))
    fig = drawn[-1]
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    notes = [t for t in ax.texts if "inconclusive" in t.get_text()]
    assert len(notes) == 1
    assert notes[0].get_window_extent(renderer).y0 >= ax.get_window_extent(renderer).y1
    assert notes[0].get_window_extent(renderer).y1 <= ax.title.get_window_extent(renderer).y0 + 1


def _md_columns(path) -> int:
    header = next(line for line in path.read_text().splitlines() if line.startswith("|"))
    return header.count("|") - 1


def _sentences(caption: str) -> int:
    return len(re.findall(r"[.?!](?:\s|$)", caption.strip()))


@pytest.mark.parametrize("name", ["table1", "table2", "table3", "ablation_weighting", "ground_truth_table"])
def test_tables_are_shaped_like_the_papers(tmp_path, name):
    """At most 12 columns and a one-sentence caption in .md and .tex; the CSV keeps every column."""
    item = get_item(name)
    if name == "table1":
        results = [_faulty(1, 1.0, tmp_path), _faulty(2, 0.0, tmp_path), _faulty(1, 1.0, tmp_path, alpha=1.0)]
    elif name == "ground_truth_table":
        results = [_planted(1, "style", 1.0), _planted(2, "style", 0.5), _planted(1, "backdoor", 0.5)]
    else:
        results = [_result(1, dp_noise=0.001, dp_clip=5.0, num_clients=20), _result(2, dp_noise=0.001, dp_clip=5.0,
                                                                                     num_clients=20, held=(0.5, 0.5))]
    table = item.build(results, tmp_path / name)
    md, tex = (tmp_path / f"{name}.md").read_text(), (tmp_path / f"{name}.tex").read_text()
    caption = md.split("\n\n")[0]
    assert _sentences(caption) == 1 and len(caption) < 400, caption
    assert 5 <= _md_columns(tmp_path / f"{name}.md") <= 12
    assert tex.count("\\caption{") == 1 and "\\begin{tabular}" in tex
    spec = re.search(r"\\begin\{tabular\}\{([lr]+)\}", tex).group(1)
    assert len(spec) == _md_columns(tmp_path / f"{name}.md")
    assert "_" not in re.sub(r"\\_", "", tex.split("\\begin{tabular}")[1])  # every underscore escaped
    assert list(pd.read_csv(tmp_path / f"{name}.csv").columns) == list(table.columns)
    if name != "ground_truth_table":  # two seeds of a setting: TraceFL with its interval in the printed table
        assert re.search(r"\d+\.\d \[\d+\.\d, \d+\.\d\]", md)


def test_table1_csv_keeps_its_columns(tmp_path):
    table = tables.table1([_faulty(1, 1.0, tmp_path), _faulty(2, 0.0, tmp_path)], tmp_path / "table1", get_item("table1"))
    for column in ("tracefl_faulty_pct", "tracefl_faulty_pct_ci95_low", "faulty_chance_pct", "feddebug_pct",
                   "label_count_faulty_pct", "last_layer_faulty_pct", "top_holder_pct", "best_global_acc_pct",
                   "last_global_acc_pct", "final_global_acc_pct", "twin_final_global_acc_pct", "conclusive",
                   "tracefl_mis_s_per_input", "run_id"):
        assert column in table.columns, column
    md = (tmp_path / "table1.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("|"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "Dataset", "Model", "Fault", "α", "Seeds", "n", "TraceFL", "FedDebug", "Label count", "Last layer", "Chance",
        "No-fault acc."]


def test_a_sweep_spaces_its_settings_evenly_and_names_them(drawn, tmp_path):
    """DP noise 0.0001 ... 0.003 as the paper draws it: one evenly spaced tick each, labelled by its value."""
    noises = (0.0001, 0.0003, 0.003)
    figures.figure4([_result(1, dp_noise=n, dp_clip=50.0) for n in noises], tmp_path / "f4", get_item("figure4"))
    ax = drawn[-1].axes[0]
    assert list(ax.get_xticks()) == [0, 1, 2]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.0001", "0.0003", "0.003"]
    assert not ax.get_title().startswith("(a)")  # one panel: no letter

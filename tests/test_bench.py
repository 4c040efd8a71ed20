"""The provenance benchmark on tiny configurations (no timing assertions)."""

from __future__ import annotations

import pandas as pd
import torch

from tracefl.bench import COLUMNS, main, memory_summary, run_benchmark, to_markdown


def test_run_benchmark_tiny_models_agree_with_the_reference():
    frame = run_benchmark(
        models=("tiny-cnn", "bert-tiny"), sizes=(2, 4), clients=3, chunk_size=3,
        unchunked=("tiny-cnn",), threads=None, repeats=1,
    )
    assert list(frame.columns) == COLUMNS
    rows = [(r.model, r.n, None if pd.isna(r.chunk_size) else int(r.chunk_size))
            for r in frame.itertuples(index=False)]
    assert rows == [
        ("tiny-cnn", 2, 3), ("tiny-cnn", 4, 3), ("tiny-cnn", 4, None),
        ("bert-tiny", 2, 3), ("bert-tiny", 4, 3),
    ]
    assert frame["traced_agree"].all()
    assert (frame["compared"] == frame["n"]).all() and (frame["agreed"] == frame["n"]).all()
    assert not frame["reference_extrapolated"].any()
    assert (frame["max_rel_diff"] < 1e-4).all()
    assert (frame["k"] == 3).all()
    assert (frame["engine_s_per_input"] > 0).all() and (frame["speedup"] > 0).all()
    table = to_markdown(frame)
    assert table.splitlines()[0].startswith("| model | N | K | chunk | engine s/input")
    assert len(table.splitlines()) == 2 + len(frame)
    assert any("unchunked" in line for line in memory_summary(frame))


def test_reference_on_a_subset_is_marked_extrapolated():
    threads = torch.get_num_threads()
    frame = run_benchmark(models=("tiny-cnn",), sizes=(3, 5), clients=2, reference_inputs=2,
                          unchunked=(), threads=1, repeats=2)
    assert torch.get_num_threads() == threads  # restored
    assert frame["compared"].tolist() == [2, 2]
    assert frame["reference_extrapolated"].tolist() == [True, True]
    assert frame["traced_agree"].all()
    assert "2 of 5, extrapolated" in to_markdown(frame)


def test_main_prints_and_writes_the_table(tmp_path, capsys):
    csv, md = tmp_path / "bench.csv", tmp_path / "out" / "bench.md"
    code = main(["--models", "tiny-cnn", "--sizes", "2", "--clients", "2", "--threads", "0",
                 "--unchunked", "--repeats", "1", "--csv", str(csv), "--markdown", str(md), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| tiny-cnn | 2 | 2 | 128 |" in printed
    assert list(pd.read_csv(csv).columns) == COLUMNS
    assert "| tiny-cnn | 2 | 2 |" in md.read_text()

"""The provenance benchmark on tiny configurations (no timing assertions)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from tracefl.bench import COLUMNS, main, memory_summary, run_benchmark, to_markdown


def test_run_benchmark_tiny_models_agree_with_the_reference():
    frame = run_benchmark(
        models=("tiny-cnn", "bert-tiny", "gpt-tiny"), sizes=(2, 4), clients=3, chunk_size=3,
        unchunked=("tiny-cnn",), threads=None, repeats=1,
    )
    assert list(frame.columns) == COLUMNS
    rows = [(r.model, r.n, None if pd.isna(r.chunk_size) else int(r.chunk_size))
            for r in frame.itertuples(index=False)]
    assert rows == [
        ("tiny-cnn", 2, 3), ("tiny-cnn", 4, 3), ("tiny-cnn", 4, None),
        ("bert-tiny", 2, 3), ("bert-tiny", 4, 3), ("gpt-tiny", 2, 3), ("gpt-tiny", 4, 3),
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


def test_next_to_training_times_the_engine_alone_and_beside_a_load_that_it_stops():

    from tracefl.bench import contention

    started = []
    real_start = contention.start_load

    def start(threads):
        proc = real_start(threads)
        started.append(proc)
        return proc

    contention.start_load = start
    try:
        frame = contention.next_to_training(["tiny-cnn"], n=4, k=2, threads=1, load_threads=1, repeats=1,
                                            settle_s=0.5)
    finally:
        contention.start_load = real_start
    assert list(frame.columns) == contention.CONTENTION_COLUMNS
    row = frame.iloc[0]
    assert row["alone_s_per_input"] > 0 and row["loaded_s_per_input"] > 0
    assert row["slowdown"] == row["loaded_s_per_input"] / row["alone_s_per_input"]
    assert started and all(p.poll() is not None for p in started)  # the load is stopped
    assert "| tiny-cnn | 4 | 2 | 1 | 1 |" in contention.contention_markdown(frame)


def test_job_threads_follow_the_request_then_slurm_and_waiting_threads_sleep(monkeypatch):
    from tracefl import threads

    for name in (*threads.THREAD_VARIABLES, "OMP_WAIT_POLICY", "SLURM_CPUS_PER_TASK"):
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads()
    try:
        assert threads.configure_threads(1) == 1
        assert torch.get_num_threads() == 1
        assert all(threads.os.environ[v] == "1" for v in threads.THREAD_VARIABLES)
        assert threads.os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
        monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
        assert threads.available_cpus() == 3 and threads.configure_threads(None) == 3
        monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
        threads.configure_threads(2)
        assert threads.os.environ["OMP_WAIT_POLICY"] == "ACTIVE"  # a user's own choice stays
    finally:
        torch.set_num_threads(before)


def test_training_rounds_train_average_and_evaluate_at_the_given_size(tmp_path, capsys):
    from tracefl.bench.training import COLUMNS as ROUND_COLUMNS
    from tracefl.bench.training import rounds_markdown, time_rounds

    from torch.optim.optimizer import register_optimizer_step_post_hook

    steps = []
    handle = register_optimizer_step_post_hook(lambda *_: steps.append(1))
    try:
        frame = time_rounds("tiny-cnn", rounds=2, clients=2, samples=40, epochs=1, batch_size=16, server_samples=30)
    finally:
        handle.remove()
    assert list(frame.columns) == ROUND_COLUMNS and frame["round"].tolist() == [1, 2]
    # 2 clients x 1 epoch x ceil(40 / 16) = 6 optimiser steps a round, as the steps/s column counts them
    assert len(steps) == 12
    assert (frame["steps_per_s"] * frame["train_s"]).round().tolist() == [6, 6]
    assert frame["accuracy"].between(0, 1).all()
    assert rounds_markdown(frame).splitlines()[2].startswith("| tiny-cnn | 2 x 40 x 1 (16) | 2 |")
    assert main(["--training", "--models", "bert-tiny", "--quiet"]) == 2  # image models only


def test_training_rounds_default_to_the_paper_presets_round():
    from tracefl.bench.training import PAPER_ROUND
    from tracefl.config import load_preset

    paper = load_preset(Path(__file__).resolve().parents[1] / "config" / "experiments.yaml", "paper")
    spec = next(iter(paper.runs.values()))
    assert PAPER_ROUND == {
        "clients": spec.clients_per_round, "samples": spec.max_client_samples, "epochs": spec.local_epochs,
        "batch_size": spec.batch_size, "server_samples": spec.max_server_samples,
    }

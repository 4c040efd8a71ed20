"""Command-line verbs over the library: one per workflow step, so every step runs by hand too.

Runs are given either as a JSON spec (what the Snakemake rules pass; it carries the
dataset's description) or as a run id looked up in a config file and preset (what a
person types). Heavy modules load inside the verbs, so ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from tracefl.config import ConfigError, ProvenanceSettings, RunSpec, SimulationSettings, find_run, load_preset
from tracefl.errors import InputError
from tracefl.config.settings import CLIENT_WEIGHTINGS, DEFAULT_LAYER_DECAY
from tracefl.config import items


def _json(text: str, option: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{option} is not valid JSON ({exc})") from None


def _job(args: argparse.Namespace):
    from tracefl.config.job import read_job

    return read_job(args.job) if getattr(args, "job", None) else None


def _spec(args: argparse.Namespace) -> RunSpec:
    if getattr(args, "job", None):
        return _job(args).spec
    if args.spec:
        return RunSpec.from_mapping(_json(args.spec, "--spec"), where="--spec")
    if not args.run:
        raise ConfigError("give --job FILE, --spec JSON or --run RUN_ID (with --config and --preset)")
    return find_run(load_preset(args.config, args.preset), args.run)


def _add_run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--job", help="a job file (results/runs/RUN/job.json, as the workflow writes them)")
    parser.add_argument("--spec", help="run settings as JSON")
    parser.add_argument("--run", help="run id to look up in --config/--preset")
    parser.add_argument("--config", default="config/experiments.yaml")
    parser.add_argument("--preset", default=None)


def cmd_download(args: argparse.Namespace) -> None:
    from tracefl.data.registry import DatasetSpec, get_dataset_spec
    from tracefl.steps.download import download_dataset

    if args.dataset_spec:
        dataset = DatasetSpec.from_dict(_json(args.dataset_spec, "--dataset-spec"))
    elif args.dataset:
        dataset = get_dataset_spec(args.dataset)
    else:
        raise ConfigError("give --dataset NAME (built in) or --dataset-spec JSON (a local dataset)")
    path = download_dataset(dataset, args.out, source_path=args.source_path)
    print(f"wrote {path}")


def cmd_fixtures(args: argparse.Namespace) -> None:
    """Small offline datasets in the schema of the paper's sources (for `--config fixtures=DIR`)."""
    from tracefl.data.fixtures import write_fixtures

    rows = {"train": args.train_rows, "test": args.test_rows}
    for name, path in write_fixtures(args.out, args.datasets, rows).items():
        print(f"wrote {path} ({name})")


def cmd_prefetch(args: argparse.Namespace) -> None:
    """Fetch a model's files into the cache (TORCH_HOME, HF_HOME) and write a marker saying what."""
    from tracefl.atomic import write_json
    from tracefl.models.prefetch import prefetch_model

    done = prefetch_model(args.model, args.pretrained)
    if args.out:
        write_json(done, args.out)
    print(f"prefetched {done['model']}: {done['fetched']} ({done['seconds']} s)")


def cmd_partition(args: argparse.Namespace) -> None:
    from tracefl.steps.partition import partition_run

    partition = partition_run(_spec(args), args.data_dir, args.out)
    print(f"wrote {args.out}: {len(partition['clients'])} clients, dropped {partition['dropped_clients']}")


def cmd_train(args: argparse.Namespace) -> None:
    from tracefl.steps.train import train_run

    job = _job(args)
    spec = job.spec if job else _spec(args)
    if args.simulation:
        settings = SimulationSettings.from_mapping(_json(args.simulation, "--simulation"))
    else:
        settings = job.simulation if job else SimulationSettings()
    table = train_run(spec, args.data_dir, args.partition, args.run_dir, settings, num_cpus=args.cpus)
    print(table.to_string(index=False))


def cmd_provenance(args: argparse.Namespace) -> None:
    from pathlib import Path

    import pandas as pd

    from tracefl.report.summary import per_round, per_run
    from tracefl.steps.provenance import run_provenance

    job = _job(args)
    spec = job.spec if job else _spec(args)
    if args.settings:
        settings = ProvenanceSettings.from_mapping(_json(args.settings, "--settings"))
    else:
        settings = job.provenance if job else ProvenanceSettings()
    table = run_provenance(spec, args.data_dir, args.run_dir, args.out, settings, device=args.device)
    # Averaged per round, then over rounds, as the figures and tables report it.
    summary = per_run(per_round(table, pd.read_csv(Path(args.run_dir) / "rounds.csv")))
    print(
        f"traced {summary['inputs_traced']} inputs over {summary['rounds_traced']} rounds; label held "
        f"{summary['label_held_pct']:.1f}% (chance {summary['label_held_chance_pct']:.1f}%), top holder "
        f"{summary['top_holder_pct']:.1f}% (chance {summary['top_holder_chance_pct']:.1f}%)"
    )


def cmd_feddebug(args: argparse.Namespace) -> None:
    from tracefl.steps.feddebug import run_feddebug

    extra = {} if args.inputs is None else {"n_inputs": args.inputs}
    table = run_feddebug(_spec(args), args.run_dir, args.out, device=args.device, **extra)
    print(f"FedDebug: {len(table)} generated inputs, mean score {table['score'].mean():.3f}")


def cmd_report(args: argparse.Namespace) -> None:
    """Build one paper item (figure: pdf, png, csv; table: csv, md, tex) from finished runs."""
    from tracefl.steps.report import build_item

    from tracefl.config.job import read_job

    if args.jobs:
        specs = [read_job(path).spec for path in args.jobs]
    elif args.specs:
        specs = [RunSpec.from_mapping(d, where="--specs") for d in _json(args.specs, "--specs")]
    else:
        raise ConfigError("give --jobs FILE... or --specs JSON")
    table = build_item(args.item, specs, args.runs_dir, args.out_prefix)
    print(table.to_string(index=False))


def cmd_status(args: argparse.Namespace) -> None:
    """Every run of the preset: rounds done, last accuracy, what is still to build."""
    import time

    from tracefl.steps.status import status_lines

    preset = load_preset(args.config, args.preset)
    while True:
        text = "\n".join(status_lines(preset, args.results))
        if not args.watch:
            print(text)
            return
        print("\033[2J\033[H" + time.strftime("%H:%M:%S ") + text, flush=True)
        time.sleep(args.watch)


def cmd_explain(args: argparse.Namespace) -> None:
    """Which client is responsible for each input's prediction, in one round or every round."""
    from tracefl.explain import load_run
    from tracefl.explain.describe import describe, describe_rounds
    from tracefl.explain.inputs import read_inputs
    from tracefl.explain.plot import plot_round, plot_rounds

    kwargs = _json(args.model_kwargs, "--model-kwargs") if args.model_kwargs else None
    if kwargs is not None and not isinstance(kwargs, dict):
        raise ConfigError("--model-kwargs must be a JSON object of keyword arguments")
    run = load_run(args.run_dir, args.model, kwargs)
    if args.round != "all" and not args.round.isdigit():
        raise ConfigError(f"--round must be a round number or 'all' (recorded: {run.rounds[0]}..{run.rounds[-1]})")
    rnd = args.round if args.round == "all" else int(args.round)
    if rnd != "all":
        run.meta(rnd)  # an unknown round fails here, before the inputs are read
    model = run.template() if args.tokenizer else None  # which token tensors its forward takes
    inputs = read_inputs(args.inputs, args.tokenizer, args.max_length, args.text_column, model)
    options = {"layer_decay": args.layer_decay, "client_weighting": args.client_weighting}
    result = run.explain(inputs, rnd, device=args.device, **options)
    if rnd == "all":
        print(describe_rounds(result))
        path = plot_rounds(result, args.out)
    else:
        print(describe(result))
        path = plot_round(result, args.out)
    print(f"wrote {path}")


def cmd_profile(args: argparse.Namespace) -> None:
    """Where a build's time went, from the benchmark files its jobs wrote."""
    from tracefl.report.job_times import read_benchmarks, summarize, to_markdown

    jobs = read_benchmarks(args.results)
    by = ("step",) if args.by == "step" else ("step", args.by)
    print(to_markdown(summarize(jobs, by)))
    print(f"\n{len(jobs)} jobs, {jobs['seconds'].sum():.0f} job seconds (jobs side by side add up to more than the wall time)")


def cmd_schema(args: argparse.Namespace) -> None:
    """Print (or write) the config's JSON schema, generated from the settings' declarations."""
    from tracefl.config.schema import SCHEMA_FILE, schema_text

    text = schema_text()
    if args.write:
        path = Path(__file__).resolve().parents[1] / SCHEMA_FILE
        path.write_text(text)
        print(f"wrote {path}")
    else:
        print(text, end="")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tracefl", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("download", help="fetch a dataset into the on-disk store format")
    p.add_argument("--dataset", default=None, help="a built-in dataset's name")
    p.add_argument("--dataset-spec", default=None, help="the dataset's description as JSON (as the workflow passes it)")
    p.add_argument("--out", required=True)
    p.add_argument("--source-path", default=None, help="local file/dir instead of the hub")
    p.set_defaults(func=cmd_download)

    from tracefl.data.fixtures import DEFAULT_ROWS, fixture_names

    p = sub.add_parser("fixtures", help="small offline stand-ins of the paper's datasets, in their sources' schema")
    p.add_argument("--out", required=True, help="the folder to write; then --config fixtures=FOLDER")
    p.add_argument("--datasets", nargs="+", choices=fixture_names(), default=None, help="default: all")
    p.add_argument("--train-rows", type=int, default=DEFAULT_ROWS["train"])
    p.add_argument("--test-rows", type=int, default=DEFAULT_ROWS["test"])
    p.set_defaults(func=cmd_fixtures)

    p = sub.add_parser("prefetch", help="fetch a model's weights, config and tokenizer into the cache (needs network)")
    p.add_argument("--model", required=True)
    p.add_argument("--pretrained", action="store_true", help="also the pretrained weights")
    p.add_argument("--out", default=None, help="a JSON marker of what was fetched (the workflow's output)")
    p.set_defaults(func=cmd_prefetch)

    p = sub.add_parser("partition", help="Dirichlet non-IID partition of a dataset's train split")
    _add_run_args(p)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_partition)

    p = sub.add_parser("train", help="federated training in a Flower simulation (resumes)")
    _add_run_args(p)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--partition", required=True)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--simulation", default=None, help="simulation settings as JSON")
    p.add_argument("--cpus", type=int, default=None,
                   help="CPUs the Ray backend may use, and the server's threads (default: SLURM's cpus per task, "
                   "else every CPU this process may use)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("provenance", help="trace every round of a trained run")
    _add_run_args(p)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--settings", default=None, help="provenance settings as JSON")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads of torch/OpenMP (default: SLURM's cpus per task, else every CPU this process may use)")
    p.set_defaults(func=cmd_provenance)

    p = sub.add_parser("feddebug", help="FedDebug baseline on every round of a faulty-client run")
    _add_run_args(p)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--inputs", type=int, default=None, help="generated inputs per round (default: FedDebug's 10)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads of torch/OpenMP (default: SLURM's cpus per task, else every CPU this process may use)")
    p.set_defaults(func=cmd_feddebug)

    p = sub.add_parser("report", help="build a figure or table of the paper from finished runs")
    p.add_argument("--item", required=True, choices=items.names())
    p.add_argument("--jobs", nargs="+", help="the runs' job files, in panel/row order")
    p.add_argument("--specs", help="JSON list of run settings, in panel/row order")
    p.add_argument("--runs-dir", default="results/runs")
    p.add_argument("--out-prefix", required=True, help="e.g. results/table1 -> .csv/.md/.tex or .pdf/.png/.csv")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("status", help="every run of a preset: rounds done, last accuracy, what is left to build")
    p.add_argument("--config", default="config/experiments.yaml")
    p.add_argument("--preset", default=None)
    p.add_argument("--results", default="results")
    p.add_argument("--watch", type=float, default=0, metavar="SECONDS", help="redraw every SECONDS until Ctrl-C")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("explain", help="which client is responsible for a prediction: any recorded run")
    p.add_argument("--run-dir", required=True, help="a run recorded by ProvenanceRecorder or by this workflow")
    p.add_argument("--model", default=None, metavar="MODULE:FACTORY",
                   help="function returning the run's (untrained) model; default: the run's job.json")
    p.add_argument("--model-kwargs", default=None, metavar="JSON", help="keyword arguments of the factory")
    p.add_argument("--round", default="all", help="a round number, or 'all' to follow the inputs across rounds")
    p.add_argument("--inputs", required=True, help=".npy/.pt tensors (a batch), or .csv/.txt texts with --tokenizer")
    p.add_argument("--tokenizer", default=None, help="for texts: a project text model, a tokenizer folder or a hub id")
    p.add_argument("--max-length", type=int, default=128, help="tokens per text")
    p.add_argument("--text-column", default="text", help="the CSV column that holds the texts")
    p.add_argument("--layer-decay", type=float, default=DEFAULT_LAYER_DECAY)
    p.add_argument("--client-weighting", default="none", choices=CLIENT_WEIGHTINGS)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="explain.png", help="the bar chart (one round) or line chart (all rounds)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads of torch/OpenMP (default: SLURM's cpus per task, else every CPU this process may use)")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("profile", help="where a build's time went: its jobs' benchmark files, summed by step and model")
    p.add_argument("--results", default="results")
    p.add_argument("--by", default="model", choices=("step", "model", "dataset", "run"))
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("schema", help="print the config's JSON schema (--write: into workflow/schemas)")
    p.add_argument("--write", action="store_true")
    p.set_defaults(func=cmd_schema)

    # Listed for --help only: main() hands `bench ...` to tracefl.bench's own parser.
    sub.add_parser("bench", help="time the batched engine against the per-input reference (bench --help)")
    return parser


#: Verbs that compute with torch: their threads follow ``--threads`` (``--cpus`` for training).
COMPUTE_VERBS = ("train", "provenance", "feddebug", "explain")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # the benchmark parses its own options (argparse cannot pass them through)
        from tracefl.threads import prefer_sleeping_threads

        prefer_sleeping_threads()  # before torch loads, as `python -m tracefl.bench` does
        from tracefl.bench import main as bench_main

        return bench_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.verb in COMPUTE_VERBS:  # before torch loads: OpenMP reads its settings once
        from tracefl.threads import configure_threads

        configure_threads(getattr(args, "threads", None) or getattr(args, "cpus", None))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except KeyboardInterrupt:
        return 130
    except (ConfigError, InputError) as exc:
        if args.debug:
            raise
        kind = "config error" if isinstance(exc, ConfigError) else "error"
        print(f"tracefl {args.verb}: {kind}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

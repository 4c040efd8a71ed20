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
    parser.add_argument("--config", default="config/experiments.yaml", help="the workflow's config file (with --run)")
    parser.add_argument("--preset", default=None, help="the preset (with --run; default: the config's `preset`)")


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


def cmd_contributions(args: argparse.Namespace) -> None:
    from tracefl.steps.contributions import run_contributions

    job = _job(args)
    spec = job.spec if job else _spec(args)
    settings = job.provenance if job else ProvenanceSettings()
    table = run_contributions(spec, args.data_dir, args.run_dir, args.out, args.labels_out, settings, device=args.device)
    traced = table[table["traced"]]
    held = int(traced["holds_label"].sum())
    print(f"traced {len(traced)} inputs of labels {sorted(set(traced['label']))}: {held} to a client holding the label")


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
    from tracefl.report.results import read_table

    rounds = read_table(Path(args.run_dir) / "rounds.csv", ["round"], "run the training step again")
    summary = per_run(per_round(table, rounds))
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


def cmd_repair(args: argparse.Namespace) -> None:
    from tracefl.steps.repair import run_repair

    table = run_repair(_spec(args), args.run_dir, args.data_dir, args.out, audit_inputs=args.audit_inputs,
                       device=args.device)
    print(table[["method", "excluded", "accuracy", "accuracy_before", "attack_success", "precision", "recall"]]
          .to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {args.out}")


def cmd_drop_client_models(args: argparse.Namespace) -> None:
    from tracefl.steps.drop_models import drop_run_client_models

    summary = drop_run_client_models(args.run_dir, args.out)
    print(f"{args.run_dir}: deleted the client models of {len(summary['rounds_freed'])} of {len(summary['rounds'])} "
          f"rounds, {summary['bytes_freed'] / 1e9:.2f} GB freed; wrote {args.out}")


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
        text = "\n".join(status_lines(preset, args.results, args.cores))
        if not args.watch:
            print(text)
            return
        print("\033[2J\033[H" + time.strftime("%H:%M:%S ") + text, flush=True)
        time.sleep(args.watch)


def cmd_explain(args: argparse.Namespace) -> None:
    """Which client is responsible for each input's prediction, in one round or every round."""
    from tracefl.explain import load_run
    from tracefl.explain.describe import describe, describe_rounds, to_csv, to_json
    from tracefl.explain.inputs import read_inputs, read_labels
    from tracefl.explain.plot import plot_round, plot_rounds

    kwargs = _json(args.model_kwargs, "--model-kwargs") if args.model_kwargs else None
    if kwargs is not None and not isinstance(kwargs, dict):
        raise ConfigError("--model-kwargs must be a JSON object of keyword arguments")
    if args.only_mispredicted and not args.labels:
        raise ConfigError("--only-mispredicted needs --labels FILE (the inputs' true labels)")
    select = _parse_select(args.select) if args.select else None
    run = load_run(args.run_dir, args.model, kwargs)
    if args.round is None or args.round == "all":
        rnd = args.round
    elif args.round.isdigit():
        rnd = int(args.round)
        run.meta(rnd)  # an unknown round fails here, before the inputs are read
    else:
        raise ConfigError(f"--round must be a round number or 'all' (recorded: {run.rounds[0]}..{run.rounds[-1]})")
    model = run.template() if args.tokenizer else None  # which token tensors its forward takes
    inputs = read_inputs(args.inputs, args.tokenizer, args.max_length, args.text_column, model)
    labels = read_labels(args.labels) if args.labels else None
    options = {"layer_decay": args.layer_decay, "client_weighting": args.client_weighting}
    result = run.explain(inputs, rnd, device=args.device, labels=labels, select=select,
                         only_mispredicted=args.only_mispredicted, source=args.inputs, **options)
    explanations = result if rnd == "all" else [result]
    if args.format == "csv":
        sys.stdout.write(to_csv(explanations))
    elif args.format == "json":
        print(to_json(explanations))
    else:
        print(describe_rounds(explanations) if rnd == "all" else describe(result))
    path = plot_rounds(explanations, args.out) if rnd == "all" else plot_round(result, args.out)
    print(f"wrote {path}", file=sys.stdout if args.format == "text" else sys.stderr)


def _parse_select(text: str) -> list[int]:
    """``"0,5,7-9"`` -> [0, 5, 7, 8, 9] (input positions; ranges include both ends)."""
    rows: list[int] = []
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ConfigError(f"--select {text!r}: give input positions and ranges, e.g. 0,5,7-9")
        end = int(last) if dash else int(first)
        if end < int(first):
            raise ConfigError(f"--select {part.strip()!r}: a range runs upwards, e.g. 7-9")
        rows.extend(range(int(first), end + 1))
    return rows


def _add_explain_args(p: argparse.ArgumentParser) -> None:
    """The ``explain`` verb's options (one place, so that other verbs' edits merge cleanly)."""
    from tracefl.cli_args import at_least, from_zero
    from tracefl.explain.describe import FORMATS
    from tracefl.models.device import DEVICES

    p.add_argument("--run-dir", required=True, help="a run recorded by ProvenanceRecorder or by this workflow")
    p.add_argument("--model", default=None, metavar="MODULE:FACTORY",
                   help="function returning the run's (untrained) model; default: the run's job.json")
    p.add_argument("--model-kwargs", default=None, metavar="JSON", help="keyword arguments of the factory")
    p.add_argument("--round", default=None,
                   help="a round number, or 'all' to follow the inputs across rounds (default: the last round "
                   "that kept its client models)")
    p.add_argument("--inputs", required=True, help=".npy/.pt tensors (a batch), or .csv/.txt texts with --tokenizer")
    p.add_argument("--labels", default=None, metavar="FILE",
                   help="the inputs' true labels: .npy/.pt (1-D integers) or .txt/.csv (one per line); the output "
                   "then names each input's label and each client's training examples of it")
    p.add_argument("--only-mispredicted", action="store_true",
                   help="explain only the inputs the global model gets wrong (in the last round traced; needs --labels)")
    p.add_argument("--select", default=None, metavar="INDICES",
                   help="explain only these input positions, e.g. 0,5,7-9 (the output keeps the positions)")
    p.add_argument("--format", default="text", choices=FORMATS,
                   help="text (default), or csv/json on stdout (one row per input and client / one object per input)")
    p.add_argument("--tokenizer", default=None, help="for texts: a project text model, a tokenizer folder or a hub id")
    p.add_argument("--max-length", type=at_least(1), default=128, help="tokens per text")
    p.add_argument("--text-column", default="text", help="the CSV column that holds the texts")
    p.add_argument("--layer-decay", type=from_zero(float), default=DEFAULT_LAYER_DECAY,
                   help="weight of a layer relative to the next one (1: all layers alike)")
    p.add_argument("--client-weighting", default="none", choices=CLIENT_WEIGHTINGS,
                   help="weigh clients by their number of examples (data_size) or not (none)")
    p.add_argument("--device", default="auto", choices=DEVICES, help="torch device")
    p.add_argument("--out", default="explain.png", help="the bar chart (one round) or line chart (all rounds)")
    p.add_argument("--threads", type=at_least(1), default=None, help=THREADS_HELP)


def cmd_profile(args: argparse.Namespace) -> None:
    """Where a build's time went, from the benchmark files its jobs wrote."""
    from tracefl.report.job_times import read_benchmarks, summarize, to_markdown

    jobs = read_benchmarks(args.results)
    if args.preset or args.item:  # the runs the config asks for now, not every benchmark a results folder kept
        preset = load_preset(args.config, args.preset)
        wanted = set(preset.runs)
        if args.item:
            wanted = {run for name in args.item for run in [*preset.item_runs(name), *preset.twins(name).values()]}
        jobs = jobs[jobs["run"].isin(wanted)]
        if jobs.empty:
            raise InputError(f"{args.results}: no benchmarked job of the {len(wanted)} run(s) of preset "
                             f"{preset.name!r}{' item ' + ', '.join(args.item) if args.item else ''}; build them first")
    by = ("step",) if args.by == "step" else ("step", args.by)
    print(to_markdown(summarize(jobs, by)))
    print(f"\n{len(jobs)} jobs, {jobs['seconds'].sum():.0f} job seconds (jobs side by side add up to more than the wall time)")
    if args.cores:
        from tracefl.report.projection import describe, project

        print("\nThe same jobs replayed with their measured seconds (measured under whatever contention the build "
              "had; a job never runs faster than measured):")
        for cores in args.cores:
            print(describe(project(jobs, cores)))


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


def cmd_fidelity(args: argparse.Namespace) -> None:
    """Regenerate (or check) the presets' columns of docs/fidelity.md."""
    from tracefl.config.fidelity import PAGE, render, write

    root = Path(__file__).resolve().parents[1]
    if args.write:
        print(f"wrote {write(root)}")
    elif render((root / PAGE).read_text(), root) != (root / PAGE).read_text():
        raise InputError(f"{PAGE} is stale: run python -m tracefl fidelity --write")
    else:
        print(f"{PAGE} matches the presets")



THREADS_HELP = "CPU threads of torch/OpenMP (default: SLURM's cpus per task, else every CPU this process may use)"
JOB = "results/runs/RUN/job.json"


def add_audit_verb(sub: argparse._SubParsersAction) -> None:
    """``audit``: which clients are behind a recorded run's mistakes, over every round (tracefl.audit)."""

    def cmd_audit(args: argparse.Namespace) -> None:
        from tracefl.audit.inputs import read_labels, workflow_test_set
        from tracefl.audit.plot import plot_audit
        from tracefl.explain import load_run
        from tracefl.explain.inputs import read_inputs

        if (args.inputs is None) != (args.labels is None):
            raise ConfigError("give --inputs and --labels together (or neither, for a workflow run's server test set)")
        kwargs = _json(args.model_kwargs, "--model-kwargs") if args.model_kwargs else None
        if kwargs is not None and not isinstance(kwargs, dict):
            raise ConfigError("--model-kwargs must be a JSON object of keyword arguments")
        run = load_run(args.run_dir, args.model, kwargs)
        if args.inputs is None:
            inputs, labels = workflow_test_set(args.run_dir, args.data_dir)
        else:
            model = run.template() if args.tokenizer else None
            inputs = read_inputs(args.inputs, args.tokenizer, args.max_length, args.text_column, model)
            labels = read_labels(args.labels)
        audit = run.audit(inputs, labels, device=args.device, alpha=args.alpha,
                          layer_decay=args.layer_decay, client_weighting=args.client_weighting)
        print(audit.verdict())
        csv = audit.write(Path(args.out).with_name("audit.csv") if args.csv is None else args.csv)
        print(f"wrote {csv} and {plot_audit(audit, args.out)}")
        if args.repair:
            from tracefl.atomic import write_csv
            from tracefl.audit.inputs import workflow_attack_set
            from tracefl.audit.repair import repair_table

            faulty: list[str] = []
            if (Path(args.run_dir) / "job.json").is_file():
                from tracefl.config.job import read_job

                faulty = [str(f) for f in read_job(Path(args.run_dir) / "job.json").spec.faulty_ids]
            attack = workflow_attack_set(args.run_dir, args.data_dir)
            table = repair_table(run, audit, inputs, labels, run.rounds[-1], faulty, attack_set=attack,
                                 validation=(inputs, labels))
            print(f"\nround {run.rounds[-1]} re-aggregated from its recorded replies:")
            print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
            out = Path(csv).with_name("repair.csv")
            write_csv(table, out)
            print(f"wrote {out}")

    from tracefl.cli_args import a_probability, add_verb, at_least, from_zero
    from tracefl.models.device import DEVICES

    p = add_verb(sub, "audit", "which clients are behind a recorded run's mistakes, over every round",
                 "python -m tracefl audit --run-dir results/runs/RUN --repair")
    p.add_argument("--run-dir", required=True, help="a run recorded by ProvenanceRecorder or by this workflow")
    p.add_argument("--model", default=None, metavar="MODULE:FACTORY",
                   help="function returning the run's (untrained) model; default: the run's job.json")
    p.add_argument("--model-kwargs", default=None, metavar="JSON", help="keyword arguments of the factory")
    p.add_argument("--inputs", default=None, help="labelled validation inputs: .npy/.pt tensors, or .csv/.txt texts "
                   "with --tokenizer (default: a workflow run's server test set)")
    p.add_argument("--labels", default=None, help=".npy/.pt: one class id per input")
    p.add_argument("--data-dir", default=None, help="a workflow run's dataset folder (default: resources/datasets/DATASET)")
    p.add_argument("--tokenizer", default=None, help="for texts: a project text model, a tokenizer folder or a hub id")
    p.add_argument("--max-length", type=at_least(1), default=128, help="tokens per text")
    p.add_argument("--text-column", default="text", help="the CSV column that holds the texts")
    p.add_argument("--alpha", type=a_probability, default=0.05, help="family-wise error of the per-client tests (Holm)")
    p.add_argument("--layer-decay", type=from_zero(float), default=DEFAULT_LAYER_DECAY,
                   help="weight of a layer relative to the next one (1: all layers alike)")
    p.add_argument("--client-weighting", default="none", choices=CLIENT_WEIGHTINGS,
                   help="weigh clients by their number of examples (data_size) or not (none)")
    p.add_argument("--device", default="auto", choices=DEVICES, help="torch device")
    p.add_argument("--out", default="audit.png", help="the heatmap (clients x rounds)")
    p.add_argument("--csv", default=None, help="the per-client table (default: audit.csv beside --out)")
    p.add_argument("--repair", action="store_true",
                   help="also re-aggregate the last round without the flagged clients (all, and those whose exclusion "
                   "raises accuracy on the inputs: audit_confirmed), the other methods' picks and with Flower's robust "
                   "strategies (repair.csv)")
    p.add_argument("--threads", type=at_least(1), default=None, help=THREADS_HELP)
    p.set_defaults(func=cmd_audit)



def build_parser() -> argparse.ArgumentParser:
    from tracefl.cli_args import add_verb, at_least, core_counts, from_zero, version_text
    from tracefl.models.device import DEVICES

    parser = argparse.ArgumentParser(prog="tracefl", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    parser.add_argument("--version", action="version", version=version_text(), help="print the package version and exit")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = add_verb(sub, "download", "fetch a dataset into the on-disk store format",
                 "python -m tracefl download --dataset digits --out resources/datasets/digits")
    p.add_argument("--dataset", default=None, help="a built-in dataset's name")
    p.add_argument("--dataset-spec", default=None, help="the dataset's description as JSON (as the workflow passes it)")
    p.add_argument("--out", required=True, help="the dataset folder to write")
    p.add_argument("--source-path", default=None, help="local file/dir instead of the hub")
    p.set_defaults(func=cmd_download)

    from tracefl.data.fixtures import DEFAULT_ROWS, fixture_names

    p = add_verb(sub, "fixtures", "small offline stand-ins of the paper's datasets, in their sources' schema",
                 "python -m tracefl fixtures --out fixtures --datasets mnist cifar10")
    p.add_argument("--out", required=True, help="the folder to write; then --config fixtures=FOLDER")
    p.add_argument("--datasets", nargs="+", choices=fixture_names(), default=None, help="the datasets (default: all)")
    p.add_argument("--train-rows", type=at_least(1), default=DEFAULT_ROWS["train"], help="rows of each train split")
    p.add_argument("--test-rows", type=at_least(1), default=DEFAULT_ROWS["test"], help="rows of each test split")
    p.set_defaults(func=cmd_fixtures)

    p = add_verb(sub, "prefetch", "fetch a model's weights, config and tokenizer into the cache (needs network)",
                 "python -m tracefl prefetch --model resnet18 --pretrained")
    p.add_argument("--model", required=True, help="a model name of the catalog (tracefl/models/catalog.py)")
    p.add_argument("--pretrained", action="store_true", help="also the pretrained weights")
    p.add_argument("--out", default=None, help="a JSON marker of what was fetched (the workflow's output)")
    p.set_defaults(func=cmd_prefetch)

    p = add_verb(sub, "partition", "Dirichlet non-IID partition of a dataset's train split",
                 f"python -m tracefl partition --job {JOB} --data-dir resources/datasets/digits --out part.json")
    _add_run_args(p)
    p.add_argument("--data-dir", required=True, help="the dataset folder (as `download` writes it)")
    p.add_argument("--out", required=True, help="the partition JSON file to write")
    p.set_defaults(func=cmd_partition)

    p = add_verb(sub, "train", "federated training in a Flower simulation (resumes)",
                 f"python -m tracefl train --job {JOB} --data-dir resources/datasets/digits "
                 "--partition part.json --run-dir results/runs/RUN")
    _add_run_args(p)
    p.add_argument("--data-dir", required=True, help="the dataset folder (as `download` writes it)")
    p.add_argument("--partition", required=True, help="the partition file (as `partition` writes it)")
    p.add_argument("--run-dir", required=True, help="the run directory: rounds/ and rounds.csv go there")
    p.add_argument("--simulation", default=None, help="simulation settings as JSON (default: the job file's)")
    p.add_argument("--cpus", type=at_least(1), default=None,
                   help="CPUs the Ray backend may use, and the server's threads (default: SLURM's cpus per task, "
                   "else every CPU this process may use)")
    p.set_defaults(func=cmd_train)

    p = add_verb(sub, "provenance", "trace every round of a trained run",
                 f"python -m tracefl provenance --job {JOB} --data-dir resources/datasets/digits "
                 "--run-dir results/runs/RUN --out provenance.csv")
    _add_run_args(p)
    p.add_argument("--data-dir", required=True, help="the dataset folder (as `download` writes it)")
    p.add_argument("--run-dir", required=True, help="the trained run's directory")
    p.add_argument("--out", required=True, help="the provenance table (CSV) to write")
    p.add_argument("--settings", default=None, help="provenance settings as JSON (default: the job file's)")
    p.add_argument("--device", default="auto", choices=DEVICES, help="torch device")
    p.add_argument("--threads", type=at_least(1), default=None, help=THREADS_HELP)
    p.set_defaults(func=cmd_provenance)

    p = add_verb(sub, "contributions", "each client's contribution to four test inputs of two labels (Figure 1)",
                 f"python -m tracefl contributions --job {JOB} --data-dir resources/datasets/digits "
                 "--run-dir results/runs/RUN --out contributions.csv --labels-out client_labels.csv")
    _add_run_args(p)
    p.add_argument("--data-dir", required=True, help="the dataset folder (as `download` writes it)")
    p.add_argument("--run-dir", required=True, help="the trained run's directory")
    p.add_argument("--out", required=True, help="the per-input, per-client contributions (CSV) to write")
    p.add_argument("--labels-out", required=True, help="each client's training examples per label (CSV) to write")
    p.add_argument("--device", default="auto", choices=DEVICES, help="torch device")
    p.add_argument("--threads", type=at_least(1), default=None, help=THREADS_HELP)
    p.set_defaults(func=cmd_contributions)

    p = add_verb(sub, "feddebug", "FedDebug baseline on every round of a faulty-client run",
                 f"python -m tracefl feddebug --job {JOB} --run-dir results/runs/RUN --out feddebug.csv")
    _add_run_args(p)
    p.add_argument("--run-dir", required=True, help="the trained run's directory")
    p.add_argument("--out", required=True, help="the FedDebug table (CSV) to write")
    p.add_argument("--inputs", type=at_least(1), default=None, help="generated inputs per round (default: FedDebug's 10)")
    p.add_argument("--device", default="auto", choices=DEVICES, help="torch device")
    p.add_argument("--threads", type=at_least(1), default=None, help=THREADS_HELP)
    p.set_defaults(func=cmd_feddebug)

    p = add_verb(sub, "repair", "audit a run, then re-aggregate its last round without each method's pick "
                 "and with Flower's robust strategies (the repair item's rows)",
                 f"python -m tracefl repair --job {JOB} --run-dir results/runs/RUN --data-dir DIR --out repair.csv")
    _add_run_args(p)
    p.add_argument("--run-dir", required=True, help="the trained run's directory")
    p.add_argument("--data-dir", required=True, help="the run's dataset folder")
    p.add_argument("--out", required=True, help="the repair table (CSV) to write")
    p.add_argument("--audit-inputs", type=at_least(1), default=500,
                   help="server test inputs the audit traces per round (accuracy uses the whole test set)")
    p.add_argument("--device", default="auto", choices=DEVICES, help="torch device")
    p.add_argument("--threads", type=at_least(1), default=None, help=THREADS_HELP)
    p.set_defaults(func=cmd_repair)

    p = add_verb(sub, "drop-client-models",
                 "delete a finished run's client models (~90% of its bytes) once every step reading them has run",
                 "python -m tracefl drop-client-models --run-dir results/runs/RUN "
                 "--out results/runs/RUN/client_models_dropped.json")
    p.add_argument("--run-dir", required=True, help="the trained run's directory")
    p.add_argument("--out", required=True, help="the summary (JSON) to write: rounds, bytes freed")
    p.set_defaults(func=cmd_drop_client_models)

    p = add_verb(sub, "report", "build a figure or table of the paper from finished runs",
                 f"python -m tracefl report --item figure2 --jobs {JOB} --out-prefix results/figure2")
    p.add_argument("--item", required=True, choices=items.names(), help="the paper item")
    p.add_argument("--jobs", nargs="+", help="the runs' job files, in panel/row order")
    p.add_argument("--specs", help="JSON list of run settings, in panel/row order")
    p.add_argument("--runs-dir", default="results/runs", help="the folder of the run directories")
    p.add_argument("--out-prefix", required=True, help="e.g. results/table1 -> .csv/.md/.tex or .pdf/.png/.csv")
    p.set_defaults(func=cmd_report)

    p = add_verb(sub, "status", "every run of a preset: rounds done, last accuracy, what is left to build",
                 "python -m tracefl status --preset quick --watch 30")
    p.add_argument("--config", default="config/experiments.yaml", help="the workflow's config file")
    p.add_argument("--preset", default=None, help="the preset (default: the config's `preset`)")
    p.add_argument("--results", default="results", help="the results folder")
    p.add_argument("--watch", type=from_zero(float), default=0, metavar="SECONDS",
                   help="redraw every SECONDS until Ctrl-C (0: print once)")
    p.add_argument("--cores", type=at_least(1), default=None, metavar="N",
                   help="cores the rest of the build runs on, for the time-left estimate (default: this machine's)")
    p.set_defaults(func=cmd_status)

    p = add_verb(sub, "explain", "which client is responsible for a prediction: any recorded run",
                 "python -m tracefl explain --run-dir my_run --model quickstart.task:Net --inputs x.npy "
                 "--labels y.npy --only-mispredicted")
    _add_explain_args(p)
    p.set_defaults(func=cmd_explain)

    p = add_verb(sub, "profile", "where a build's time went: its jobs' benchmark files, summed by step and model",
                 "python -m tracefl profile --results results --by step")
    p.add_argument("--results", default="results", help="the results folder (its benchmarks/ are read)")
    p.add_argument("--by", default="model", choices=("step", "model", "dataset", "run"), help="what to sum by")
    p.add_argument("--cores", type=core_counts, action="extend", default=None, metavar="N[,N...]",
                   help="also replay the build's jobs with their measured seconds on N cores and print the wall "
                        "time it projects (e.g. 2,8,32; tracefl.report.projection)")
    p.add_argument("--preset", default=None,
                   help="only the runs of this preset of --config (a results folder keeps the benchmarks of runs a "
                        "changed config no longer has)")
    p.add_argument("--item", action="append", choices=list(items.ITEMS), default=None,
                   help="only the runs of this item (and the fault-free twins judging them) in --preset; repeatable: "
                        "about what `snakemake ITEM's file` costs (a run shared with another item counts every step it had)")
    p.add_argument("--config", default="config/experiments.yaml", help="the workflow's config file (with --preset/--item)")
    p.set_defaults(func=cmd_profile)

    p = add_verb(sub, "fidelity", "regenerate (--write) or check docs/fidelity.md's preset columns",
                 "python -m tracefl fidelity --write")
    p.add_argument("--write", action="store_true", help="rewrite the page instead of checking it")
    p.set_defaults(func=cmd_fidelity)

    p = add_verb(sub, "schema", "print the config's JSON schema (--write: into workflow/schemas)",
                 "python -m tracefl schema --write")
    p.add_argument("--write", action="store_true", help="write workflow/schemas/ instead of printing")
    p.set_defaults(func=cmd_schema)

    add_audit_verb(sub)

    # Listed for --help only: main() hands `bench ...` to tracefl.bench's own parser.
    add_verb(sub, "bench", "time the batched engine against the per-input reference (bench --help)",
             "python -m tracefl bench --help")
    return parser


#: Verbs that compute with torch: their threads follow ``--threads`` (``--cpus`` for training).
COMPUTE_VERBS = ("train", "provenance", "contributions", "feddebug", "explain", "audit", "repair")


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
    from tracefl.cli_args import one_line_errors

    return one_line_errors(lambda: args.func(args), args.verb, args.debug)

if __name__ == "__main__":
    sys.exit(main())

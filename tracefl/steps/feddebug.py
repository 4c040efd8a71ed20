"""The FedDebug step: the baseline over every round of a faulty-client run -> feddebug.csv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tqdm import tqdm

from tracefl.atomic import write_csv
from tracefl.baselines.feddebug import DEFAULT_NUM_INPUTS, DEFAULT_THRESHOLD, feddebug_localize, generate_inputs
from tracefl.config import RunSpec
from tracefl.errors import InputError
from tracefl.data.transforms import IMAGE_SHAPE
from tracefl.models.device import resolve_device
from tracefl.runs.checkpoint import completed_rounds
from tracefl.runs.load import round_models
from tracefl.seeding import derive_seed

FEDDEBUG_COLUMNS = ["round", "input", "flagged", "faulty", "score", "seconds"]


def run_feddebug(
    spec: RunSpec,
    run_dir: str | Path,
    out_csv: str | Path,
    n_inputs: int = DEFAULT_NUM_INPUTS,
    threshold: float = DEFAULT_THRESHOLD,
    device: str = "auto",
) -> pd.DataFrame:
    """Localize the faulty participants of each round with FedDebug (image models only).

    Rounds without a faulty participant are skipped: there is nothing to find.
    """
    dspec = spec.data
    if dspec.kind != "image":
        raise ValueError(f"FedDebug works on image models only; dataset '{spec.dataset}' is text")
    dev = resolve_device(device)
    faulty = set(spec.faulty_ids)  # label flippers, or a planted backdoor
    rounds = completed_rounds(run_dir)
    if len(rounds) < spec.rounds:
        raise InputError(f"{run_dir}: {len(rounds)} of {spec.rounds} rounds on disk; train the run first")
    rows = []
    for rnd in tqdm(rounds, desc=f"feddebug {spec.run_id}"):
        _, clients, meta = round_models(spec, run_dir, rnd, dev)
        present = sorted(faulty & set(meta["participants"]), key=int)
        if not present or len(present) == len(clients):
            continue
        # The artifact normalises its random inputs like the dataset's images, except for MedMNIST.
        stats = (None, None) if dspec.source == "medmnist" else (dspec.mean, dspec.std)
        inputs = generate_inputs(n_inputs, IMAGE_SHAPE, *stats, seed=derive_seed(spec.seed, "feddebug", rnd))
        result = feddebug_localize(clients, inputs.to(dev), num_faulty=len(present), faulty_ids=present,
                                   threshold=threshold, tie_seed=derive_seed(spec.seed, "feddebug-ties", rnd))
        for i, flagged in enumerate(result.flagged):
            rows.append(
                {
                    "round": rnd,
                    "input": i,
                    "flagged": " ".join(flagged),
                    "faulty": " ".join(present),
                    "score": float(result.scores[i]),
                    "seconds": result.seconds_per_input,
                }
            )
    table = pd.DataFrame(rows, columns=FEDDEBUG_COLUMNS)
    write_csv(table, out_csv)
    return table

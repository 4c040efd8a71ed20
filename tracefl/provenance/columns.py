"""The provenance table's columns (``provenance.csv``), defined once; no torch.

The provenance step writes them (:mod:`tracefl.steps.provenance`, scored by
:mod:`tracefl.provenance.scoring`) and the report reads them (:mod:`tracefl.report`). A
score's column is ``{metric}`` for TraceFL as configured and ``{metric}_{method}`` for the
same inputs scored another way (:func:`scored_by`).
"""

from __future__ import annotations

# What a traced input is scored on (0/1 per input): the traced client holds the input's
# label; it holds the most examples of it; it is a faulty client; it planted the input.
LABEL_HELD = "label_held"
TOP_HOLDER = "top_holder"
FAULTY_TRACED = "faulty_traced"
TRUTH_TRACED = "truth_traced"
# A random participant's chance of each (the faulty and planted ones are named by the client).
LABEL_HELD_CHANCE = LABEL_HELD + "_chance"
TOP_HOLDER_CHANCE = TOP_HOLDER + "_chance"
FAULTY_CHANCE = "faulty_chance"
TRUTH_CHANCE = "truth_chance"

# Other ways to score the same inputs: data-size client weighting (paper Eq. 5-6), the labels
# as the clients trained them (post-flip), and two baselines, the participant with the most
# training examples of the predicted label (which never looks at a model) and the last
# provenance layer alone.
DATA_SIZE = "data_size"
POST_FLIP = "post_flip"
LABEL_COUNT = "label_count"
LAST_LAYER = "last_layer"
BASELINES = (LABEL_COUNT, LAST_LAYER)

TRACED_CLIENT = "traced_client"
TRUTH_CLIENT = "truth_client"
PLANTED_RATE = "planted_rate"
SECONDS = "seconds"

# The kinds of traced inputs: correct predictions, label-flip mispredictions and the planted
# scenarios' inputs (tracefl.data.scenarios names the latter).
KIND = "kind"
CORRECT = "correct"
MISPREDICTION = "misprediction"


def scored_by(metric: str, method: str) -> str:
    """The column of ``metric`` scored by ``method`` (e.g. ``top_holder_last_layer``)."""
    return f"{metric}_{method}"


def chance_of(column: str) -> str:
    """The column of a random participant's chance beside a label score ``column``."""
    return f"{column}_chance"


def client_of(method: str) -> str:
    """The column of the client ``method`` traces each input to (e.g. ``label_count_client``)."""
    return TRACED_CLIENT + "_" + method if method == DATA_SIZE else f"{method}_client"


PROVENANCE_COLUMNS = [
    "round",
    KIND,
    "input_id",
    "true_label",
    "predicted_label",
    TRACED_CLIENT,
    "traced_score",
    LABEL_HELD,
    LABEL_HELD_CHANCE,
    TOP_HOLDER,
    TOP_HOLDER_CHANCE,
    FAULTY_TRACED,
    FAULTY_CHANCE,
    "n_participants",
    "global_accuracy",
    SECONDS,
    # The same trace with data-size client weighting (paper Eq. 5-6), for the ablation.
    client_of(DATA_SIZE),
    scored_by(LABEL_HELD, DATA_SIZE),
    scored_by(TOP_HOLDER, DATA_SIZE),
    scored_by(FAULTY_TRACED, DATA_SIZE),
    # TraceFL scored with the labels as the clients trained them (a faulty client's flipped
    # examples under their target label); equal to the columns above in runs without a fault.
    scored_by(LABEL_HELD, POST_FLIP),
    chance_of(scored_by(LABEL_HELD, POST_FLIP)),
    scored_by(TOP_HOLDER, POST_FLIP),
    chance_of(scored_by(TOP_HOLDER, POST_FLIP)),
    # Baselines on the same inputs, scored like TraceFL (see BASELINES).
    client_of(LABEL_COUNT),
    scored_by(LABEL_HELD, LABEL_COUNT),
    scored_by(TOP_HOLDER, LABEL_COUNT),
    scored_by(FAULTY_TRACED, LABEL_COUNT),
    client_of(LAST_LAYER),
    scored_by(LABEL_HELD, LAST_LAYER),
    scored_by(TOP_HOLDER, LAST_LAYER),
    scored_by(FAULTY_TRACED, LAST_LAYER),
    # Planted ground truth (scenario runs, tracefl.data.scenarios): the client that caused the
    # prediction, whether TraceFL and each baseline traced it, a random participant's chance,
    # and the share of the planted set the model predicted as planted that round.
    TRUTH_CLIENT,
    TRUTH_TRACED,
    TRUTH_CHANCE,
    scored_by(TRUTH_TRACED, LABEL_COUNT),
    scored_by(TRUTH_TRACED, LAST_LAYER),
    PLANTED_RATE,
]
# Columns holding 0/1 per input (nullable integers in the CSV).
HIT_COLUMNS = [c for c in PROVENANCE_COLUMNS if c.startswith((LABEL_HELD, TOP_HOLDER, FAULTY_TRACED, TRUTH_TRACED))
               and not c.endswith("_chance")]

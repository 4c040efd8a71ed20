"""The quickstart-shaped app (examples/quickstart-tracefl) run in this process, with some clients faulty.

A faulty client trains on its partition with every label flipped to ``TARGET`` (Table I's
fault). The server runs FedAvg through ``Strategy.start`` on :class:`tracefl.flower.inline.InlineGrid`
(the ClientApp called in-process, as the simulation calls it), wrapped as the caller asks.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.serverapp.strategy import FedAvg, Strategy
from flwr.supercore.task_identity import TaskIdentity

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "quickstart-tracefl"))

from quickstart.task import NUM_CLASSES, Net, load_data, load_test, test, train  # noqa: E402

from tracefl.flower import label_counts_metric  # noqa: E402
from tracefl.flower.inline import RUN_ID, InlineGrid  # noqa: E402

TARGET = 0
NUM_CLIENTS = 5


def client_app(faulty: tuple[int, ...]) -> ClientApp:
    app = ClientApp()

    @app.train()
    def train_fn(msg: Message, context: Context) -> Message:
        model = Net()
        model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
        pid = int(context.node_config["partition-id"])
        x, y = load_data(pid, int(context.node_config["num-partitions"]))
        if pid in faulty:
            y = torch.full_like(y, TARGET)
        loss = train(model, x, y, 2, 0.01)
        metrics = MetricRecord({"train_loss": loss, "num-examples": len(y), "partition-id": pid,
                                "label-counts": label_counts_metric(y.tolist(), NUM_CLASSES)})
        return Message(content=RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": metrics}), reply_to=msg)

    return app


def run(wrap: Callable[[Strategy], Strategy], faulty: tuple[int, ...] = (), rounds: int = 4) -> dict[int, float]:
    """Train ``rounds`` rounds with ``wrap(FedAvg())``; the server accuracy after each round."""
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, RUN_ID, SUPERLINK_NODE_ID
    x_test, y_test = load_test()
    torch.manual_seed(0)
    initial = ArrayRecord(Net().state_dict())
    strategy = wrap(FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=NUM_CLIENTS,
                           min_train_nodes=NUM_CLIENTS))

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model = Net()
        model.load_state_dict(arrays.to_torch_state_dict())
        return MetricRecord({"accuracy": test(model, x_test, y_test)})

    result = strategy.start(grid=InlineGrid(client_app(faulty), NUM_CLIENTS), initial_arrays=initial,
                            num_rounds=rounds, evaluate_fn=evaluate)
    return {r: float(m["accuracy"]) for r, m in result.evaluate_metrics_serverapp.items()}

"""FedAvg wrapped in tracefl's AuditGuard (validation: the first 150 test images); prints the
guard's decisions, its seconds per round and the accuracy after each round on all 300."""

import json

import torch
from flwr.app import ArrayRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from guardapp.task import Net, load_test, test
from tracefl.flower import AuditGuard

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    nodes = int(context.run_config["min-nodes"])
    x_test, y_test = load_test()
    strategy = FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=nodes, min_train_nodes=nodes)
    guard = AuditGuard(strategy, Net, x_test[:150], y_test[:150], exclude=bool(context.run_config["exclude"]))
    torch.manual_seed(0)

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model = Net()
        model.load_state_dict(arrays.to_torch_state_dict())
        return MetricRecord({"accuracy": test(model, x_test, y_test)})

    result = guard.start(grid=grid, initial_arrays=ArrayRecord(Net().state_dict()),
                         num_rounds=int(context.run_config["num-server-rounds"]), evaluate_fn=evaluate)
    accuracy = {int(r): float(m["accuracy"]) for r, m in result.evaluate_metrics_serverapp.items()}
    print("GUARD " + json.dumps({"decisions": guard.decisions, "excluded": guard.excluded,
                                 "seconds": guard.seconds, "accuracy": accuracy}))

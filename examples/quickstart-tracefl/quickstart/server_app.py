"""The ServerApp: FedAvg, wrapped in tracefl's ProvenanceRecorder (the two lines marked)."""

import torch
from flwr.app import ArrayRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from quickstart.task import Net, load_test, test
from tracefl.flower import ProvenanceRecorder  # <- TraceFL

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    nodes = int(context.run_config["min-nodes"])  # wait for this many SuperNodes, train on all of them
    strategy = FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=nodes, min_train_nodes=nodes)
    strategy = ProvenanceRecorder(strategy, run_dir=context.run_config["run-dir"])  # <- TraceFL
    x_test, y_test = load_test()
    torch.manual_seed(0)  # the same initial model in every run

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model = Net()
        model.load_state_dict(arrays.to_torch_state_dict())
        return MetricRecord({"accuracy": test(model, x_test, y_test)})

    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(Net().state_dict()),
        num_rounds=int(context.run_config["num-server-rounds"]),
        evaluate_fn=evaluate,
    )
    print(f"final accuracy {result.evaluate_metrics_serverapp[max(result.evaluate_metrics_serverapp)]}")

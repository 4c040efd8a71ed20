"""The quickstart's ClientApp; the partition named by ``faulty-partition`` flips every label to 0."""

import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from guardapp.task import NUM_CLASSES, Net, load_data, train
from tracefl.flower import label_counts_metric

app = ClientApp()


@app.train()
def train_fn(msg: Message, context: Context) -> Message:
    model = Net()
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    pid = int(context.node_config["partition-id"])
    x, y = load_data(pid, int(context.node_config["num-partitions"]))
    if pid == int(context.run_config["faulty-partition"]):
        y = torch.zeros_like(y)
    loss = train(model, x, y, 2, 0.01)
    metrics = MetricRecord({"train_loss": loss, "num-examples": len(y), "partition-id": pid,
                            "label-counts": label_counts_metric(y.tolist(), NUM_CLASSES)})
    return Message(content=RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": metrics}), reply_to=msg)

"""The ClientApp: train on the node's partition and reply with the model, the example
count, the partition id and the label counts (what the provenance recorder reads)."""

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from quickstart.task import NUM_CLASSES, Net, load_data, train
from tracefl.flower import label_counts_metric

app = ClientApp()


@app.train()
def train_fn(msg: Message, context: Context) -> Message:
    model = Net()
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    partition_id = int(context.node_config["partition-id"])
    x, y = load_data(partition_id, int(context.node_config["num-partitions"]))
    loss = train(model, x, y, int(context.run_config["local-epochs"]), float(context.run_config["learning-rate"]))
    metrics = MetricRecord({
        "train_loss": loss,
        "num-examples": len(y),
        "partition-id": partition_id,
        "label-counts": label_counts_metric(y.tolist(), NUM_CLASSES),
    })
    content = RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": metrics})
    return Message(content=content, reply_to=msg)

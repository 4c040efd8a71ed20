"""The inline backend: Flower's Grid interface with the ClientApp called in this process."""

from __future__ import annotations

import pytest
from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from tracefl.flower.inline import run_inline


def _echo_app() -> ClientApp:
    app = ClientApp()

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        if msg.content["config"]["fail"]:
            raise RuntimeError("client broke")
        info = ConfigRecord({"partition-id": int(context.node_config["partition-id"]),
                             "num-partitions": int(context.node_config["num-partitions"]),
                             "calls": int(context.state.config_records.get("seen", ConfigRecord({"n": 0}))["n"]) + 1})
        context.state["seen"] = ConfigRecord({"n": info["calls"]})
        return Message(RecordDict({"info": info}), reply_to=msg)

    return app


def _serve(body) -> list:
    seen: list = []
    server = ServerApp()

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        seen.append(body(grid))

    run_inline(server, _echo_app(), num_nodes=3)
    return seen[0]


def _ask(grid: Grid, fail: bool = False, nodes=None) -> list[Message]:
    nodes = list(grid.get_node_ids()) if nodes is None else nodes
    messages = [Message(RecordDict({"config": ConfigRecord({"fail": fail})}), dst_node_id=n, message_type=MessageType.QUERY)
                for n in nodes]
    return list(grid.send_and_receive(messages))


def test_each_node_serves_its_partition_keeps_its_state_and_replies_in_order():
    def twice(grid: Grid):
        nodes = list(grid.get_node_ids())
        return nodes, _ask(grid, nodes=nodes[::-1]), _ask(grid, nodes=nodes[::-1])

    nodes, first, second = _serve(twice)
    assert len(nodes) == 3
    assert [r.metadata.src_node_id for r in first] == nodes[::-1]
    assert [int(r.content["info"]["partition-id"]) for r in first] == [2, 1, 0]
    assert {int(r.content["info"]["num-partitions"]) for r in first} == {3}
    assert [r.metadata.reply_to_message_id != "" for r in first] == [True] * 3
    assert [int(r.content["info"]["calls"]) for r in second] == [2, 2, 2]  # node state persists across rounds


def test_a_client_error_is_raised_with_its_message_and_an_unknown_node_is_refused():
    with pytest.raises(RuntimeError, match="client broke"):
        _serve(lambda grid: _ask(grid, fail=True))
    with pytest.raises(ValueError, match="not one of the 3 inline nodes"):
        _serve(lambda grid: _ask(grid, nodes=[7]))

"""Run a Flower ServerApp and ClientApp in this process, one client after another.

Flower's simulation engine starts Ray and one virtual node per client before the first
round: on 2 CPU cores that costs ~10 s per run, more than the training of a small run.
:class:`InlineGrid` implements Flower's :class:`~flwr.serverapp.Grid` interface by calling
the ClientApp directly for each message, with the node context the simulation gives it
(``partition-id``, ``num-partitions``), so the same ServerApp, strategy, recorder and
ClientApp run unchanged; only the transport differs. Replies come back in the order the
messages were sent. Clients run sequentially in this process, so this is for a run whose
clients fit one machine (one GPU or CPU); Ray spreads them over many (``backend: ray``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from flwr.app import Context, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.serverapp import Grid, ServerApp
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

# Node ids of the inline nodes: fixed (Ray's are random), so a log reads the same every time.
FIRST_NODE_ID = 1001
RUN_ID = 1


class InlineGrid(Grid):
    """``num_nodes`` nodes in this process, node ``i`` serving partition ``i`` of ``client_app``."""

    def __init__(self, client_app: ClientApp, num_nodes: int, run_config: dict[str, Any] | None = None) -> None:
        self._client_app = client_app
        self._run = Run.create_empty(run_id=RUN_ID)
        self._contexts = {
            FIRST_NODE_ID + i: Context(
                run_id=RUN_ID,
                node_id=FIRST_NODE_ID + i,
                node_config={"partition-id": i, "num-partitions": num_nodes},
                state=RecordDict(),
                run_config=dict(run_config or {}),
            )
            for i in range(num_nodes)
        }
        self._ids = itertools.count(1)
        self._replies: dict[str, Message] = {}

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(
        self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str, ttl: float | None = None
    ) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Deliver each message to its node's ClientApp now; the reply waits for ``pull_messages``.

        An exception in a ClientApp is raised here, with its own traceback (Ray turns it
        into an error reply; here nothing runs concurrently that would need to go on).
        """
        ids = []
        for message in messages:
            node = message.metadata.dst_node_id
            if node not in self._contexts:
                raise ValueError(f"message to node {node}, which is not one of the {len(self._contexts)} inline nodes")
            message_id = f"inline-{next(self._ids)}"
            message.metadata.__dict__["_message_id"] = message_id  # as Flower's grids assign it
            message.metadata.__dict__["_run_id"] = self._run.run_id
            self._replies[message_id] = self._client_app(message, self._contexts[node])
            ids.append(message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in message_ids if i in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))


def run_inline(server_app: ServerApp, client_app: ClientApp, num_nodes: int, run_config: dict[str, Any] | None = None) -> None:
    """Run ``server_app`` against ``num_nodes`` inline nodes of ``client_app`` (as ``run_simulation`` does with Ray)."""
    # Who sends: the identity Message() reads (Flower's run_simulation sets the same for its server).
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, RUN_ID, SUPERLINK_NODE_ID
    grid = InlineGrid(client_app, num_nodes, run_config)
    context = Context(run_id=RUN_ID, node_id=0, node_config={}, state=RecordDict(), run_config=dict(run_config or {}))
    server_app(grid, context)

"""Settings shared by every run of a preset: how provenance traces, how the simulation runs.

Declared like the run settings (a field with its JSON schema), checked by the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from tracefl.config.fields import check_fields, check_keys, setting
from tracefl.models.device import DEVICES

# How a client's provenance score is weighted (paper Eq. 5-6): not at all (the artifact's
# default) or by its share of the round's training examples.
CLIENT_WEIGHTINGS = ("none", "data_size")
# Layer weight beta_l = decay^(L-1-l) (the artifact's 0.9), and inputs per forward/backward pass.
DEFAULT_LAYER_DECAY = 0.9
DEFAULT_CHUNK_SIZE = 128
# How the Flower simulation runs its clients (tracefl.steps.train).
BACKENDS = ("ray", "inline")


@dataclass(frozen=True)
class ProvenanceSettings:
    """How inputs are chosen and traced; changing these re-runs provenance, not training."""

    inputs_per_label: int = setting(10, schema={"type": "integer", "minimum": 1},
                                    doc="correct predictions traced per label and round")
    # Raise the per-label count in rounds with few held labels so this many can be traced (0: off).
    min_inputs_per_round: int = setting(0, schema={"type": "integer", "minimum": 0},
                                        doc="inputs traced per round at least, where labels allow")
    max_mispredictions: int = setting(100, schema={"type": "integer", "minimum": 0},
                                      doc="mispredictions traced per round (faulty-client runs)")
    max_planted: int = setting(50, schema={"type": "integer", "minimum": 0},
                               doc="planted inputs traced per planted set and round (ground-truth runs)")
    layer_decay: float | None = setting(
        DEFAULT_LAYER_DECAY, schema={"anyOf": [{"type": "null"}, {"type": "number", "exclusiveMinimum": 0, "maximum": 1}]},
        doc="weight of each earlier layer (null: all layers equal)",
    )
    client_weighting: str = setting("none", schema={"enum": list(CLIENT_WEIGHTINGS)},
                                    doc="client score weighting (paper Eq. 5-6)")
    chunk_size: int | None = setting(DEFAULT_CHUNK_SIZE, schema={"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 1}]},
                                     doc="inputs per forward/backward pass (null: all at once)")
    # The rounds traced, e.g. [1, 2] (the seed baseline's provenance-rounds); a listed round past a
    # run's last is not traced for that run.
    provenance_rounds: tuple[int, ...] | None = setting(
        None, schema={"anyOf": [{"type": "null"}, {"type": "array", "items": {"type": "integer", "minimum": 1},
                                                   "minItems": 1, "uniqueItems": True}]},
        doc="rounds traced (null: every round)",
    )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "provenance") -> "ProvenanceSettings":
        check_keys(data, cls, where)
        check_fields(data, cls, where)
        data = dict(data)
        if data.get("provenance_rounds") is not None:
            data["provenance_rounds"] = tuple(sorted(int(r) for r in data["provenance_rounds"]))
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        if out["provenance_rounds"] is not None:
            out["provenance_rounds"] = list(out["provenance_rounds"])
        return out

    def traced(self, rounds: list[int]) -> list[int]:
        """The completed ``rounds`` this setting traces."""
        return rounds if self.provenance_rounds is None else [r for r in rounds if r in self.provenance_rounds]


@dataclass(frozen=True)
class SimulationSettings:
    """Resources of the Flower simulation; they do not change results, so not in the run id."""

    client_cpus: float = setting(1.0, schema={"type": "number", "exclusiveMinimum": 0},
                                 doc="CPUs per simulated client")
    client_gpus: float = setting(0.5, schema={"type": "number", "minimum": 0},
                                 doc="share of a GPU per simulated client (when CUDA is visible)")
    device: str = setting("auto", schema={"enum": list(DEVICES)}, doc="torch device of training")
    # ray: Flower's simulation engine (clients in parallel, GPU fractions; ~10 s start-up a run);
    # inline: the same apps called in the job's process, one client after another.
    backend: str = setting("ray", schema={"enum": list(BACKENDS)}, doc="how simulated clients run (ray or inline)")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "simulation") -> "SimulationSettings":
        check_keys(data, cls, where)
        check_fields(data, cls, where)
        return cls(**data)

    @property
    def client_threads(self) -> int:
        """Torch threads of a client's training, and of the server's evaluation (the same on every
        backend: how many threads split a float sum changes its last bits)."""
        return max(1, int(self.client_cpus))

    @property
    def train_threads(self) -> int:
        """Cores a training job keeps busy: Ray runs clients side by side (2), the inline backend
        one client at a time on its client_cpus, so two inline jobs share 2 cores."""
        return self.client_threads if self.backend == "inline" else 2

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

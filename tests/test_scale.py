"""The scale switch: a preset at smoke scale keeps what it tests and shrinks only sizes."""

from __future__ import annotations

import pytest

from tracefl.config import ConfigError, load_config, resolve_preset
from tracefl.config.scale import SMOKE_LIMITS, scaled_entry, smoke_clients
from tracefl.models.catalog import model_family

CONFIG = "config/experiments.yaml"


def _paper(scale: str):
    config = load_config(CONFIG)
    config["scale"] = scale
    return resolve_preset(config, "paper")


def test_smoke_keeps_every_item_dataset_family_fault_and_dp_setting_of_the_paper_preset():
    full, smoke = _paper("full"), _paper("smoke")
    assert {k: len(v) for k, v in smoke.items.items()} == {k: len(v) for k, v in full.items.items()}
    for key in full.items:
        for full_id, smoke_id in zip(full.items[key], smoke.items[key]):
            a, b = full.runs[full_id], smoke.runs[smoke_id]
            assert smoke_id.startswith("smoke-") and not full_id.startswith("smoke-")
            assert (b.dataset, b.alpha, b.seed, b.faulty_clients, b.label_flip, b.dp_noise, b.dp_clip) == (
                a.dataset, a.alpha, a.seed, a.faulty_clients, a.label_flip, a.dp_noise, a.dp_clip)
            assert model_family(b.model) == model_family(a.model) and not b.pretrained
            assert b.model == {"bert": "tiny-bert", "gpt": "tiny-gpt"}.get(a.model, a.model)
            assert b.rounds <= 2 and b.max_client_samples <= 64 and b.max_server_samples <= 128
            assert b.num_clients == smoke_clients(a.num_clients) <= 200
            assert b.clients_per_round / b.num_clients == a.clients_per_round / a.num_clients  # sampling fraction
    # the Table III sweep over clients is still a sweep, and every paper dataset and architecture runs
    # (then the per-round sweep of 20-50 clients out of 400: still four fractions of one total)
    table3 = [smoke.runs[r] for r in smoke.items["table3"]]
    assert [s.num_clients for s in table3] == [40, 80, 120, 160, 200, 80, 80, 80, 80]
    assert len({s.clients_per_round for s in table3[5:]}) == 4
    assert {s.dataset for s in smoke.runs.values()} == {s.dataset for s in full.runs.values()}
    assert {s.model for s in smoke.runs.values()} == {"resnet18", "densenet121", "tiny-bert", "tiny-gpt"}
    assert smoke.simulation.backend == "inline" and full.simulation.backend == "ray"
    assert smoke.simulation.client_cpus == 1


def test_full_scale_changes_nothing_and_an_unknown_scale_or_a_per_run_scale_is_one_line():
    entry = {"dataset": "mnist", "model": "bert", "rounds": 50, "num_clients": 1000}
    assert scaled_entry(entry, "full") == entry
    smoke = scaled_entry(entry, "smoke")
    assert smoke["rounds"] == SMOKE_LIMITS["rounds"] and smoke["num_clients"] == 200 and smoke["model"] == "tiny-bert"
    assert smoke_clients(10) == 10 and smoke_clients(100) == 20 and smoke_clients(4) == 4
    config = load_config(CONFIG)
    config["scale"] = "huge"
    with pytest.raises(ConfigError, match="scale") as err:
        resolve_preset(config, "paper")
    assert "\n" not in str(err.value)
    config = load_config(CONFIG)
    config["presets"]["quick"]["figure2"][0]["scale"] = "smoke"
    with pytest.raises(ConfigError, match="not per run"):
        resolve_preset(config, "quick")

"""Run ids: a reader tells every run of a preset apart by its readable part, the hash keeps them unique."""

import re
from pathlib import Path

import pytest

from tracefl.config import RunSpec, load_preset
from tracefl.config.run_names import flip_segment, id_ranges

ROOT = Path(__file__).resolve().parents[1]
BASE = {"dataset": "mnist-5k", "model": "cnn", "num_clients": 10, "clients_per_round": 10}


def _wildcard_pattern() -> str:
    """The ``run`` wildcard's constraint, as the workflow declares it."""
    text = (ROOT / "workflow/rules/common.smk").read_text()
    return re.search(r'^\s*run=r"([^"]+)"', text, re.M).group(1)


def _readable(run_id: str) -> str:
    return run_id.rsplit("-", 1)[0]


@pytest.mark.parametrize("numbers, text", [([0], "0"), ([3, 1], "1_3"), ([0, 1, 2, 3, 7], "0-3_7"),
                                           ([5, 6], "5_6"), (range(1, 14), "1-13")])
def test_client_and_label_lists_read_as_ranges(numbers, text):
    assert id_ranges(numbers) == text


def test_label_flips_read_per_target():
    assert flip_segment([(k, 0) for k in range(1, 10)]) == "flip1-9to0"
    assert flip_segment([(7, 1)]) == "flip7to1"
    assert flip_segment([(1, 0), (2, 3)]) == "flip1to0_2to3"


def test_faults_dp_and_exclusion_are_named_only_off_their_defaults():
    plain = RunSpec.from_mapping(BASE)
    assert plain.run_id == "mnist-5k-cnn-c10-p10-r10-a0.3-s42-" + plain.run_id[-8:]
    dp = RunSpec.from_mapping({**BASE, "dp_noise": 0.001, "dp_clip": 50})
    assert "-a0.3-dp0.001x50-s42-" in dp.run_id
    assert "-dp0x50-" in RunSpec.from_mapping({**BASE, "dp_clip": 50}).run_id  # clipped, no noise
    flip = RunSpec.from_mapping({**BASE, "faulty_clients": [0], "label_flip": {k: 0 for k in range(1, 10)}})
    assert "-a0.3-faulty0-flip1-9to0-s42-" in flip.run_id
    random = RunSpec.from_mapping({**BASE, "faulty_clients": [0], "faulty_labels": "random"})
    assert "-a0.3-faulty0-randlabels-s42-" in random.run_id
    excluded = RunSpec.from_mapping({**BASE, "exclude_clients": [0, 3], "exclude_from_round": 2})
    assert "-a0.3-excl0_3from2-s42-" in excluded.run_id
    assert "-excl0-s42-" in RunSpec.from_mapping({**BASE, "exclude_clients": [0]}).run_id
    # the hash is the one of every setting, as before: a run without these settings keeps its id
    assert RunSpec.from_mapping({**BASE, "exclude_clients": [], "dp_noise": 0.0}).run_id == plain.run_id


@pytest.mark.parametrize("preset", ["quick", "paper"])
def test_every_run_of_a_preset_reads_differently_and_fits_the_wildcard(preset):
    loaded = load_preset(ROOT / "config/experiments.yaml", preset)
    readable = [_readable(r) for r in loaded.runs]
    assert len(set(readable)) == len(readable), sorted(r for r in readable if readable.count(r) > 1)
    pattern = re.compile(_wildcard_pattern())
    assert all(pattern.fullmatch(r) and "/" not in r for r in loaded.runs)


def test_figure4_and_table1_runs_name_their_noise_and_fault():
    quick = load_preset(ROOT / "config/experiments.yaml", "quick")
    noise = [re.search(r"-dp([0-9.e-]+)x50-", r).group(1) for r in quick.items["figure4"]]
    assert list(dict.fromkeys(noise)) == ["0", "0.001", "0.002", "0.003"] and len(noise) == 12  # 3 seeds each
    faulty = [r for r in quick.items["table1"] if "faulty" in r]
    assert faulty and all(re.search(r"-faulty0-flip(1-9to0|7to1)-s4[234]-", r) for r in faulty)
    assert any("flip7to1" in r for r in faulty)

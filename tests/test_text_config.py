"""Text data through the config: `local_datasets` (a user's CSV/Parquet), optional entries,
the dataset's description travelling with a run's spec to jobs, the download rule, and
FedDebug left out for text."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tracefl.config import ConfigError, RunSpec, load_preset, local_datasets, resolve_preset
from tracefl.data import registry
from tracefl.steps.download import download_dataset
from tracefl.data.store import load_meta, load_split

ROOT = Path(__file__).resolve().parents[1]
NAME = "test-text-local"


@pytest.fixture(autouse=True)
def no_registry_leak():
    """Declaring local datasets registers nothing process-wide."""
    before = set(registry.DATASETS)
    yield
    assert set(registry.DATASETS) == before


def _csv(path: Path, n: int = 120) -> Path:
    rng = np.random.default_rng(0)
    labels = rng.integers(1, 4, n)  # 1..3, as AG News numbers its classes from 1
    words = {1: "market stocks", 2: "match team", 3: "chip software"}
    pd.DataFrame(
        {
            "label": labels,
            "title": [f"title {i} {words[int(c)]}" for i, c in enumerate(labels)],
            "description": [f"body {i}" for i in range(n)],
        }
    ).to_csv(path, index=False)
    return path


def _declaration(path: str | Path) -> dict:
    return {
        "path": str(path),
        "kind": "text",
        "text_columns": ["title", "description"],
        "label_column": "label",
        "num_classes": 3,
        "display": "My news",
    }


def test_local_datasets_resolve_with_paths_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    _csv(tmp_path / "data" / "news.csv")
    spec = local_datasets({"local_datasets": {NAME: _declaration("data/news.csv")}})[NAME]
    assert spec.local_path == str(tmp_path / "data" / "news.csv")
    assert (spec.kind, spec.num_classes, spec.text_columns, spec.display) == (
        "text", 3, ("title", "description"), "My news")


def test_a_jobs_spec_carries_its_dataset_to_another_process(tmp_path):
    """A job (a Snakemake rule, a CLI step on a SLURM node) needs no environment or config file."""
    preset = resolve_preset(_config(str(_csv(tmp_path / "news.csv")), optional=False), "p")
    run = preset.runs[preset.items["figure2"][1]]
    assert run.data.local_path == str(tmp_path / "news.csv")
    code = ("import json, sys; from tracefl.config import RunSpec; "
            "s = RunSpec.from_mapping(json.loads(sys.argv[1])); print(s.run_id, s.data.local_path, s.data.display)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACEFL")}
    out = subprocess.run([sys.executable, "-c", code, json.dumps(run.to_job_dict())], capture_output=True,
                         text=True, cwd=tmp_path, check=True, env=env)
    assert out.stdout.split() == [run.run_id, run.data.local_path, "My", "news"]
    assert RunSpec.from_mapping(run.to_job_dict()) == run
    with pytest.raises(ConfigError, match=f"unknown dataset '{NAME}'"):
        RunSpec.from_mapping(run.to_dict())  # without its description the name means nothing


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"path": "x.csv", "kind": "text", "num_classes": 3, "colour": "red"}, f"unknown key 'colour' in local_datasets.{NAME}"),
        ({"path": "x.csv", "kind": "text"}, f"local_datasets.{NAME}.num_classes is required"),
        ({"path": "x.csv", "kind": "audio", "num_classes": 3}, f"local_datasets.{NAME}: unknown kind 'audio'"),
        ({"path": "x.csv", "kind": "text", "num_classes": 1}, "num_classes must be an integer >= 2"),
        ("x.csv", f"local_datasets.{NAME} must be a mapping"),
    ],
)
def test_bad_local_dataset_entries_name_the_key(entry, message):
    with pytest.raises(ConfigError) as err:
        local_datasets({"local_datasets": {NAME: entry}})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_local_copy_of_a_built_in_dataset_replaces_its_source(tmp_path):
    """A local_datasets entry named like a built-in is the user's copy; absent, the source is used."""
    here = _csv(tmp_path / "mine.csv")
    found = local_datasets({"local_datasets": {"dbpedia-14": {**_declaration(here), "num_classes": 14}}})
    assert found["dbpedia-14"].local_path == str(here) and found["dbpedia-14"].source == "csv"
    notes: list[str] = []
    found = local_datasets({"local_datasets": {"dbpedia-14": _declaration(tmp_path / "gone.csv")}}, notes=notes)
    assert found == {} and notes == [
        f"local_datasets.dbpedia-14: {tmp_path / 'gone.csv'} does not exist; using the built-in 'dbpedia-14' "
        "(fancyzhx/dbpedia_14) instead"]


def _config(path: str, optional: bool) -> dict:
    entry = {"dataset": NAME, "model": "tiny-bert", "rounds": 1}
    if optional:
        entry["optional"] = True
    return {
        "local_datasets": {NAME: _declaration(path)},
        "presets": {"p": {"defaults": {"num_clients": 2, "clients_per_round": 2}, "figure2": [
            {"dataset": "digits", "model": "tiny-cnn", "rounds": 1}, entry]}},
    }


def test_optional_entries_are_skipped_when_their_file_is_absent(tmp_path):
    preset = resolve_preset(_config(str(tmp_path / "missing.csv"), optional=True), "p")
    assert len(preset.items["figure2"]) == 1
    assert len(preset.skipped) == 1 and "missing.csv does not exist" in preset.skipped[0]
    with pytest.raises(ConfigError, match=r"figure2\[1\]: dataset .*does not exist.*optional: true"):
        resolve_preset(_config(str(tmp_path / "missing.csv"), optional=False), "p")
    present = resolve_preset(_config(str(_csv(tmp_path / "here.csv")), optional=True), "p")
    assert len(present.items["figure2"]) == 2 and not present.skipped
    run = present.runs[present.items["figure2"][1]]
    assert (run.optimizer, run.lr) == ("adamw", 5e-5)  # transformer defaults when lr is not set
    bad = _config(str(tmp_path / "here.csv"), optional=True)
    bad["presets"]["p"]["figure2"][1]["optional"] = "yes"
    with pytest.raises(ConfigError, match="optional = 'yes' is not allowed; allowed: true or false"):
        resolve_preset(bad, "p")


def test_quick_preset_text_panel_follows_the_file(tmp_path, monkeypatch):
    config = yaml_config()
    monkeypatch.chdir(tmp_path)  # ../shared/data/ag_news_test.csv is absent from here
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # and the hub's copy cannot be fetched
    quick = resolve_preset(config, "quick")
    assert len(quick.items["figure2"]) == 12 and len(quick.skipped) == 2  # one line per entry, not per seed
    assert "ag_news_test.csv does not exist; using the built-in 'ag-news'" in quick.notes[0]
    assert "figure2[4] (ag-news, minilm-l6) skipped: dataset 'ag-news' is on the Hugging Face hub" in quick.skipped[0]
    assert "ground_truth[3] (ag-news, minilm-l6) skipped" in quick.skipped[1]
    # Online (hub reachable): the hub's AG News test split instead of the absent file.
    from tracefl.data import sources

    monkeypatch.setattr(sources, "hub_unavailable_reason", lambda spec: None)
    quick = resolve_preset(config, "quick")
    hub = quick.runs[quick.items["figure2"][-1]]
    assert len(quick.items["figure2"]) == 15 and (hub.data.source, hub.data.hf_path) == ("hf", "fancyzhx/ag_news")
    (tmp_path / "work").mkdir()
    (tmp_path / "shared" / "data").mkdir(parents=True)
    _csv(tmp_path / "shared" / "data" / "ag_news_test.csv")
    monkeypatch.chdir(tmp_path / "work")
    quick = resolve_preset(config, "quick")
    assert not quick.skipped and len(quick.items["figure2"]) == 15
    text = quick.runs[quick.items["figure2"][-1]]
    assert (text.dataset, text.model, text.pretrained, text.optimizer, text.lr) == (
        "ag-news", "minilm-l6", True, "adamw", 1e-4)  # optimizer auto -> AdamW; lr set by the panel


def yaml_config() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "config" / "experiments.yaml").read_text())


def test_paper_preset_has_the_papers_text_runs():
    paper = load_preset(ROOT / "config" / "experiments.yaml", "paper")
    def runs(item):
        return [paper.runs[r] for r in paper.items[item]]
    text = [(r.dataset, r.model, r.rounds) for r in runs("figure2") if r.dataset in ("dbpedia-14", "yahoo-answers")]
    assert sorted(text) == [("dbpedia-14", "bert", 25), ("dbpedia-14", "gpt", 25),
                            ("yahoo-answers", "bert", 25), ("yahoo-answers", "gpt", 25)]
    for item in ("figure4", "table2", "table3", "figure5"):
        assert {(r.dataset, r.model) for r in runs(item)} == {("dbpedia-14", "gpt")}, item
    assert [(r.dp_noise, r.dp_clip) for r in runs("table2")] == [(0.003, 15), (0.006, 10), (0.012, 15)]
    # Table III: the total-client sweep (all 10 a round) and, out of 400, 20-50 clients a round.
    assert sorted({r.num_clients for r in runs("table3")}) == [200, 400, 600, 800, 1000]
    assert {20, 30, 40, 50} <= {r.clients_per_round for r in runs("table3") if r.num_clients == 400}
    assert [(r.num_clients, r.rounds) for r in runs("figure5")] == [(400, 80)]
    assert {r.alpha for r in runs("figure4")} == {0.2} and {r.dp_clip for r in runs("figure4")} == {50}
    table1_text = [r for r in runs("table1") if r.model == "gpt"]
    assert len(table1_text) == 6 and all(r.faulty_clients == (0,) and r.optimizer == "hf-trainer" for r in table1_text)


def test_local_csv_is_written_into_the_store(tmp_path):
    spec = local_datasets({"local_datasets": {NAME: _declaration(_csv(tmp_path / "news.csv"))}})[NAME]
    out = download_dataset(spec, tmp_path / "store")
    x, y = load_split(out, "train")
    xt, yt = load_split(out, "test")
    assert x.dtype.kind == "U" and len(x) + len(xt) == 120 and len(xt) == 24
    assert set(np.unique(np.concatenate([y, yt]))) == {0, 1, 2}  # labels 1..3 remapped
    assert x[0].startswith("title ") and " body " in x[0]  # the text columns joined by a space
    meta = load_meta(out)
    assert meta["kind"] == "text" and meta["label_mapping"] == {"1": 0, "2": 1, "3": 2}


def _snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), *args]
    return subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=600)


def test_download_rule_stores_a_local_dataset_from_the_config(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / "mine").mkdir()
    _csv(tmp_path / "mine" / "news.csv")
    (tmp_path / "extra.yaml").write_text(json.dumps({"local_datasets": {NAME: _declaration("mine/news.csv")}}))
    proc = _snakemake(tmp_path, "--cores", "1", "--configfile", "extra.yaml", "--", f"resources/datasets/{NAME}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    x, _ = load_split(tmp_path / "resources" / "datasets" / NAME, "train")
    assert len(x) == 96 and x.dtype.kind == "U"


def test_feddebug_jobs_only_for_image_runs(tmp_path):
    """Paper Table I has GPT rows on DBpedia-14 and Yahoo; FedDebug (image-only) skips them."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    proc = _snakemake(tmp_path, "-n", "--cores", "1", "--config", "preset=paper", "--", "results/table1.csv")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, flags=re.M))
    # 18 faulty runs and the fault-free twins of the 3 on MNIST (the only dataset here with a learned accuracy)
    assert counts["train_fl"] == "21" and counts["feddebug"] == "12"


def test_ag_news_from_the_hub_is_its_test_split_divided_like_the_local_file(tmp_path):
    """The built-in ag-news reads the hub's test split (here a folder in hub layout: the same
    `datasets` loader as the network path) and divides it 80/20 with the dataset's fixed seed."""
    from tracefl.data.registry import get_dataset_spec

    hub = tmp_path / "ag_news"
    hub.mkdir()
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 100)
    pd.DataFrame({"text": [f"title {i} body {i}" for i in range(100)], "label": labels}).to_csv(hub / "test.csv", index=False)
    pd.DataFrame({"text": ["unused"] * 8, "label": [0, 1, 2, 3] * 2}).to_csv(hub / "train.csv", index=False)
    out = download_dataset(get_dataset_spec("ag-news"), tmp_path / "store", source_path=str(hub))
    x, y = load_split(out, "train")
    xt, yt = load_split(out, "test")
    assert len(x) == 80 and len(xt) == 20 and "unused" not in set(x) | set(xt)
    assert sorted(np.concatenate([y, yt]).tolist()) == sorted(labels.tolist())
    assert load_meta(out)["origin"].endswith("(test split)")

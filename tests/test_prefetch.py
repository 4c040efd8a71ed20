"""Prefetch on the login node: what is fetched, the offline one-line errors, the DAG around it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest

from tracefl.cli import main
from tracefl.models.prefetch import needs_prefetch, prefetch_key

ROOT = Path(__file__).resolve().parents[1]


def test_what_needs_the_network():
    assert needs_prefetch("resnet18", True) and not needs_prefetch("resnet18", False)
    assert needs_prefetch("bert", False) and needs_prefetch("owner/model", True)  # hub config and tokenizer
    assert not any(needs_prefetch(m, False) for m in ("cnn", "tiny-bert", "tiny-gpt", "minilm-l6"))
    assert prefetch_key("owner/model", True) == "owner--model-pretrained" and prefetch_key("bert", False) == "bert-config"


def test_a_local_model_prefetches_nothing_and_writes_its_marker(tmp_path, capsys):
    assert main(["prefetch", "--model", "tiny-cnn", "--out", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["fetched"].startswith("nothing")


def test_offline_hub_model_is_one_line_naming_the_repository_and_the_fix(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-m", "tracefl", "prefetch", "--model", "bert", "--out", str(tmp_path / "m.json")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.startswith("tracefl prefetch")]
    assert len(lines) == 1 and "google-bert/bert-base-cased" in lines[0] and "snakemake prefetch" in lines[0], proc.stderr
    assert not (tmp_path / "m.json").exists()


def test_offline_imagenet_weights_are_one_line(tmp_path, monkeypatch, capsys):
    import torch.hub

    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", unreachable)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert main(["prefetch", "--model", "resnet18", "--pretrained", "--out", str(tmp_path / "m.json")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "ImageNet weights" in err and "snakemake prefetch" in err and "URLError" in err
    assert not (tmp_path / "m.json").exists()


def _dry_run(tmp_path: Path, *args: str) -> str:
    import shutil

    shutil.copytree(ROOT / "config", tmp_path / "config")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), *args, "-n",
                           "--cores", "1", "--config", "preset=paper"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_prefetch_target_fetches_every_dataset_and_model_file_and_training_waits_for_it(tmp_path):
    out = _dry_run(tmp_path, "prefetch")
    models = sorted(set(re.findall(r"resources/cache/models/([\w.-]+\.json)", out)))
    assert models == ["bert-pretrained.json", "densenet121-pretrained.json", "gpt-pretrained.json", "resnet18-pretrained.json"]
    assert "download_dataset        8" in out  # the paper's seven datasets and MNIST 5k (the repair item)
    assert "resources/cache/models/densenet121-pretrained.json" in _dry_run(tmp_path / "all", "results/figure2.pdf")

"""The paper preset runs what the paper's artifact ran (docs/fidelity.md), and the
``hf-trainer`` optimiser is Hugging Face Trainer's default (decay 0, grad-norm clip 1.0)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tracefl.config import load_preset
from tracefl.models.training import make_optimizer, train_local

ROOT = Path(__file__).resolve().parents[1]


def _paper():
    return load_preset(ROOT / "config/experiments.yaml", "paper")


def _values(preset, key, attr):
    return sorted({getattr(preset.runs[i], attr) for i in preset.items[key]})


def test_paper_preset_uses_the_artifacts_sweeps_and_limits():
    paper = _paper()
    assert paper.provenance.max_mispredictions == 10
    assert _values(paper, "figure3", "alpha") == [round(0.1 * k, 1) for k in range(1, 11)]
    assert _values(paper, "figure4", "dp_noise") == [0.0001, 0.0003, 0.0007, 0.0009, 0.001, 0.003]
    assert {paper.runs[i].dp_clip for i in paper.items["figure4"]} == {50}
    assert {paper.runs[i].alpha for i in paper.items["figure4"]} == {0.2}
    per_round = {paper.runs[i].clients_per_round for i in paper.items["table3"] if paper.runs[i].num_clients == 400}
    assert per_round == {10, 20, 30, 40, 50}


def test_paper_preset_trains_every_transformer_as_the_artifacts_trainer():
    paper = _paper()
    text = [s for s in paper.runs.values() if s.model in ("gpt", "bert")]
    assert text and {s.optimizer for s in text} == {"hf-trainer"} and {s.lr for s in text} == {5e-5}


def test_hf_trainer_optimiser_has_no_weight_decay_and_clips_the_gradient_norm(monkeypatch):
    model = nn.Linear(4, 3)
    opt = make_optimizer("hf-trainer", model.parameters(), 5e-5)
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["weight_decay"] == 0.0
    # Adam's step barely depends on the gradient's scale, so watch the clip itself: every step
    # of an hf-trainer client clips its gradient norm to 1.0; an adamw client never clips.
    norms: list[float] = []
    real_clip = nn.utils.clip_grad_norm_

    def watched(params, max_norm, *a, **k):
        params = list(params)
        out = real_clip(params, max_norm, *a, **k)
        norms.append(float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))))
        assert max_norm == 1.0
        return out

    monkeypatch.setattr(nn.utils, "clip_grad_norm_", watched)
    x, y = torch.randn(32, 4) * 1e3, torch.randint(0, 3, (32,))
    for name, steps in (("hf-trainer", 4), ("adamw", 0)):
        norms.clear()
        train_local(nn.Linear(4, 3), x, y, epochs=2, batch_size=16, lr=0.1, optimizer=name, seed=1,
                    device=torch.device("cpu"))
        assert len(norms) == steps
        assert all(n <= 1.0 + 1e-5 for n in norms)


def test_fidelity_page_lists_what_the_presets_resolve_to(tmp_path):
    from tracefl.config.fidelity import PAGE, render

    page = (ROOT / PAGE).read_text()
    assert render(page, ROOT) == page, "docs/fidelity.md is stale: run python -m tracefl fidelity --write"
    # ... and the check can fail: a changed preset changes the page.
    (tmp_path / "config").mkdir()
    text = (ROOT / "config/experiments.yaml").read_text().replace("max_mispredictions: 10\n", "max_mispredictions: 11\n")
    (tmp_path / "config/experiments.yaml").write_text(text)
    changed = render(page, tmp_path)
    assert changed != page and "| max mispredictions | 11 | 100 |" in changed


def test_provenance_rounds_chooses_the_traced_rounds_and_bad_values_stop_with_one_line():
    import pytest

    from tracefl.config import ConfigError, ProvenanceSettings

    assert ProvenanceSettings().traced([1, 2, 3]) == [1, 2, 3]  # default: every round
    chosen = ProvenanceSettings.from_mapping({"provenance_rounds": [3, 1]})
    assert chosen.traced([1, 2, 3]) == [1, 3] and chosen.to_dict()["provenance_rounds"] == [1, 3]
    assert ProvenanceSettings.from_mapping(chosen.to_dict()) == chosen  # through the job file
    for bad in ([0], [], "1,2"):
        with pytest.raises(ConfigError) as err:
            ProvenanceSettings.from_mapping({"provenance_rounds": bad})
        assert "provenance_rounds" in str(err.value) and "\n" not in str(err.value)

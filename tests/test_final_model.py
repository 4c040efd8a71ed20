"""The last round's global model is exported as final_model.safetensors and final_model.pt
(a state_dict loadable with ``torch.load(..., weights_only=True)``)."""

from __future__ import annotations

import torch
from safetensors.torch import load_file
from torch import nn

from tracefl.runs.checkpoint import export_final_model, write_round


def test_final_model_is_the_last_rounds_global_model_in_both_formats(tmp_path):
    states = []
    for rnd in (1, 2):
        torch.manual_seed(rnd)
        state = nn.Linear(3, 2).state_dict()
        states.append(state)
        write_round(tmp_path, rnd, state, {"0": state}, {"round": rnd})
    st, pt = export_final_model(tmp_path, 2)
    assert st.name == "final_model.safetensors" and pt.name == "final_model.pt"
    for loaded in (load_file(str(st)), torch.load(pt, weights_only=True)):
        assert set(loaded) == {"weight", "bias"}
        assert all(torch.equal(loaded[k], states[1][k]) for k in loaded)
        assert not torch.equal(loaded["weight"], states[0]["weight"])
    model = nn.Linear(3, 2)
    model.load_state_dict(torch.load(pt, weights_only=True))  # loads into the architecture
    assert not list(tmp_path.glob(".*.tmp"))

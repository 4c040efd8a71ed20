"""Transformer models: registry, tokenizer pad-token rule, offline behaviour, and neuron
provenance on tiny BERT / DistilBERT / GPT equal to the per-input reference."""

from __future__ import annotations

import copy

import pytest
import torch

from tracefl.config import ConfigError, RunSpec
from tracefl.models.catalog import model_family, training_defaults
from tracefl.models.builders import build_model
from tracefl.models.catalog import ModelUnavailableError, minilm_dir
from tracefl.models.text import (
    PAD_TOKEN,
    apply_pad_token_rule,
    encode_texts,
    fit_model_to_tokenizer,
    load_tokenizer,
)
from tracefl.provenance import provenance_layers, trace
from tracefl.provenance.reference import reference_trace

TINY = ["tiny-bert", "tiny-distilbert", "tiny-gpt"]
TEXTS = [
    "stocks fell sharply in early trading on wall street",
    "the team won the final after extra time",
    "a b",
    "new chip doubles battery life of phones and laptops alike says maker",
    "rain",
]


def _clients(model: torch.nn.Module, k: int = 3, scale: float = 0.05) -> dict[str, torch.nn.Module]:
    """K client models: the global model plus independent relative noise."""
    clients = {}
    for i in range(k):
        client = copy.deepcopy(model)
        gen = torch.Generator().manual_seed(100 + i)
        with torch.no_grad():
            for p in client.parameters():
                p.add_(scale * (p.abs().mean() + 1e-3) * torch.randn(p.shape, generator=gen))
        clients[str(i)] = client.eval()
    return clients


# --- registry and run settings ---------------------------------------------------------


def test_families_and_training_defaults():
    assert model_family("cnn") == "image" and model_family("densenet121") == "image"
    for name in ["bert", "distilbert", "gpt", "minilm-l6", *TINY, "someone/some-model"]:
        assert model_family(name) == "text", name
    assert training_defaults("resnet18") == {"optimizer": "adam", "lr": 1e-3}
    assert training_defaults("gpt") == {"optimizer": "adamw", "lr": 5e-5}
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        model_family("vgg")


def test_lr_and_optimizer_follow_the_model_family_unless_set():
    text = RunSpec.from_mapping({"dataset": "dbpedia-14", "model": "gpt", "lr": "auto", "optimizer": "auto"})
    assert (text.optimizer, text.lr) == ("adamw", 5e-5)
    image = RunSpec.from_mapping({"dataset": "digits", "model": "cnn"})
    assert (image.optimizer, image.lr) == ("adam", 1e-3)
    explicit = RunSpec.from_mapping({"dataset": "dbpedia-14", "model": "bert", "lr": 1e-4, "optimizer": "sgd"})
    assert (explicit.optimizer, explicit.lr) == ("sgd", 1e-4)
    # the resolved values are what the id hashes, so "auto" and the explicit value are one run
    assert RunSpec.from_mapping({"dataset": "digits", "model": "cnn", "lr": 0.001}).run_id == image.run_id


def test_hub_ids_are_models_and_run_ids_stay_one_path_component():
    spec = RunSpec.from_mapping({"dataset": "dbpedia-14", "model": "FacebookAI/roberta-base"})
    assert "/" not in spec.run_id and spec.run_id.startswith("dbpedia-14-FacebookAI--roberta-base-")
    assert RunSpec.from_mapping(spec.to_dict()) == spec
    assert "max_length" not in spec.to_dict()  # left out at its default: older run ids unchanged
    short = RunSpec.from_mapping({"dataset": "dbpedia-14", "model": "gpt", "max_length": 64})
    assert short.to_dict()["max_length"] == 64 and short.run_id != RunSpec.from_mapping(
        {"dataset": "dbpedia-14", "model": "gpt"}
    ).run_id


@pytest.mark.parametrize(
    "values, message",
    [
        ({"dataset": "dbpedia-14", "model": "cnn"}, "model.*takes images but dataset 'dbpedia-14' is text"),
        ({"dataset": "digits", "model": "bert"}, "model.*takes text but dataset 'digits' is image"),
        ({"dataset": "dbpedia-14", "model": "gpt", "max_length": 1}, "max_length"),
        ({"dataset": "dbpedia-14", "model": "not a/model name"}, "model"),
        ({"dataset": "dbpedia-14", "model": "gpt", "lr": "fast"}, "lr"),
    ],
)
def test_bad_text_settings_name_the_key(values, message):
    with pytest.raises((ConfigError, ValueError), match=message) as err:
        RunSpec.from_mapping(values)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "name, pretrained, repo",
    [
        ("gpt", True, "openai-community/openai-gpt"),
        ("bert", True, "google-bert/bert-base-cased"),
        ("distilbert", False, "distilbert/distilbert-base-uncased"),
        ("someone/some-model", True, "someone/some-model"),
    ],
)
def test_hub_models_fail_offline_with_one_clear_line(monkeypatch, name, pretrained, repo):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as err:
        build_model(name, 4, pretrained=pretrained)
    message = str(err.value)
    assert "\n" not in message
    assert f"model '{name}' ({repo})" in message and "Hugging Face hub" in message
    assert "minilm-l6" in message  # and what works offline instead


def test_tiny_models_have_no_pretrained_weights():
    with pytest.raises(ValueError, match="no pretrained weights.*pretrained: false"):
        build_model("tiny-bert", 3, pretrained=True)


# --- tokenizers: the pad-token rule ------------------------------------------------------


class _Tok:
    """The few tokenizer attributes the pad-token rule touches."""

    def __init__(self, pad=None, eos=None, size=10):
        self.pad_token, self.eos_token, self.size = pad, eos, size
        self.pad_token_id = None

    def add_special_tokens(self, tokens):
        self.pad_token = tokens["pad_token"]
        self.size += 1
        self.pad_token_id = self.size - 1

    def __len__(self):
        return self.size


def test_pad_token_rule_keeps_then_uses_eos_then_adds():
    kept = _Tok(pad="[PAD]", eos="</s>")
    assert apply_pad_token_rule(kept) == "kept" and kept.pad_token == "[PAD]" and len(kept) == 10
    eos = _Tok(eos="</s>")
    assert apply_pad_token_rule(eos) == "eos" and eos.pad_token == "</s>" and len(eos) == 10
    added = _Tok()
    assert apply_pad_token_rule(added) == "added" and added.pad_token == PAD_TOKEN and len(added) == 11


def test_gpt_tokenizer_rule_adds_a_pad_token_and_resizes_embeddings():
    tokenizer = load_tokenizer("tiny-gpt")  # like openai-gpt: neither pad nor EOS token
    assert tokenizer.pad_token == PAD_TOKEN and len(tokenizer) == tokenizer.vocab_size + 1
    model = build_model("tiny-gpt", 3, seed=0)
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)
    assert model.config.pad_token_id == tokenizer.pad_token_id
    encoded = encode_texts("tiny-gpt", ["short", "a somewhat longer input text"], max_length=12)
    assert set(encoded) == {"input_ids", "attention_mask"}  # GPT/DistilBERT take no token_type_ids
    assert encoded["input_ids"].shape == (2, 12)
    assert (encoded["input_ids"][encoded["attention_mask"] == 0] == tokenizer.pad_token_id).all()
    # BERT-family tokenizers already pad: nothing added, nothing resized
    bert = load_tokenizer("tiny-bert")
    assert bert.pad_token == "[PAD]" and len(bert) == bert.vocab_size
    assert set(encode_texts("tiny-bert", ["x"], 8)) == {"input_ids", "token_type_ids", "attention_mask"}
    assert set(encode_texts("tiny-distilbert", ["x"], 8)) == {"input_ids", "attention_mask"}


def test_fit_model_to_tokenizer_resizes_only_when_needed():
    tokenizer = copy.deepcopy(load_tokenizer("tiny-bert"))
    model = build_model("tiny-bert", 2, seed=0)
    before = model.get_input_embeddings().num_embeddings
    fit_model_to_tokenizer(model, tokenizer)
    assert model.get_input_embeddings().num_embeddings == before
    tokenizer.add_special_tokens({"additional_special_tokens": ["<extra>"]})
    fit_model_to_tokenizer(model, tokenizer)
    assert model.get_input_embeddings().num_embeddings == before + 1


def test_truncation_to_max_length():
    long = " ".join(["word"] * 500)
    encoded = encode_texts("tiny-bert", [long, "short"], max_length=128)
    assert encoded["input_ids"].shape == (2, 128) and encoded["attention_mask"][0].all()


def test_minilm_loads_offline_with_a_new_head(monkeypatch):
    from safetensors.torch import load_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = build_model("minilm-l6", 4, pretrained=True, seed=0)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.classifier.out_features == 4
    shipped = load_file(str(minilm_dir() / "model.safetensors"))
    key = next(k for k in shipped if k.endswith("encoder.layer.0.attention.self.query.weight"))
    assert torch.equal(model.bert.encoder.layer[0].attention.self.query.weight, shipped[key])
    # the paper's layer rule: whole BertLayers, plus embeddings LayerNorm, pooler and head
    names = [n for n, _ in provenance_layers(model)]
    assert names[0] == "bert.embeddings.LayerNorm" and names[-1] == "classifier"
    assert sum(n.startswith("bert.encoder.layer.") for n in names) == 6 and len(names) == 9
    # the same architecture from the local config, as clients and provenance rebuild it
    blank = build_model("minilm-l6", 4, pretrained=False)
    assert blank.state_dict().keys() == model.state_dict().keys()


# --- provenance on tiny transformers ------------------------------------------------------


@pytest.mark.parametrize("name", TINY)
def test_provenance_on_tiny_transformers_equals_the_reference(name):
    model = build_model(name, 4, seed=0).eval()
    clients = _clients(model)
    inputs = encode_texts(name, TEXTS, max_length=24)  # mixed lengths: padding in the batch
    fast = trace(model, clients, inputs, chunk_size=2)
    slow = reference_trace(model, clients, inputs)
    scale = slow.raw.abs().max()
    assert scale > 0
    torch.testing.assert_close(fast.raw.double(), slow.raw, rtol=1e-4, atol=1e-5 * float(scale))
    assert fast.traced == slow.traced
    assert torch.equal(fast.predicted, slow.predicted)
    kinds = {type(m).__name__ for _, m in provenance_layers(model)}
    expected = {"tiny-bert": {"BertLayer", "LayerNorm", "Linear"}, "tiny-distilbert": {"LayerNorm", "Linear"},
                "tiny-gpt": {"Conv1D", "LayerNorm", "Linear"}}[name]
    assert kinds == expected


@pytest.mark.parametrize("name", TINY)
def test_attention_mask_is_honoured(name):
    """Padding must not change anything: the batched, padded trace equals the per-input
    trace of each input without any padding."""
    model = build_model(name, 4, seed=1).eval()
    clients = _clients(model, scale=0.2)
    padded = encode_texts(name, TEXTS, max_length=32)
    result = trace(model, clients, padded)
    for i, text in enumerate(TEXTS):
        one = encode_texts(name, [text], max_length=32)
        length = int(one["attention_mask"].sum())
        unpadded = {k: v[:, :length] for k, v in one.items()}
        alone = reference_trace(model, clients, unpadded)
        scale = float(alone.raw.abs().max())
        torch.testing.assert_close(result.raw[i : i + 1].double(), alone.raw, rtol=1e-4, atol=1e-5 * scale)
        assert int(result.predicted[i]) == int(alone.predicted[0])
    if name == "tiny-bert":
        # A whole BertLayer is re-run per client: without the mask (the artifact's omission)
        # padded inputs get other scores, so the mask really is what makes the above hold.
        unmasked = reference_trace(model, clients, padded, keep_extra_args=False)
        masked = reference_trace(model, clients, padded)
        gap = float((unmasked.raw - masked.raw).abs().max())
        assert gap > 1e-4 * float(masked.raw.abs().max())  # measured: 2.8e-3; float noise ~1e-7

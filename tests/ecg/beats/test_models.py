"""Autoencoder registry: every architecture handles any beat length and rebuilds from its config."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from cardioclarity.ecg.beats.models import build_model, list_models, model_spec
from cardioclarity.errors import InvalidInputError


@pytest.mark.parametrize("name", ["dense", "conv1d", "lstm", "resconv"])
@pytest.mark.parametrize("length", [16, 96, 140, 187])
def test_output_shape_matches_any_length(name, length):
    torch.manual_seed(0)
    m = build_model(name, length).eval()
    x = torch.randn(3, length)
    with torch.inference_mode():
        assert m(x).shape == (3, length)


def test_dense_is_the_tutorial_baseline():
    m = build_model("dense", 140)
    linears = [mod for mod in m.modules() if isinstance(mod, torch.nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [
        (140, 32), (32, 16), (16, 8), (8, 16), (16, 32), (32, 140)]
    assert isinstance(list(m.decoder)[-1], torch.nn.Sigmoid)
    spec = model_spec("dense")
    assert (spec.scaling, spec.loss) == ("minmax", "l1")


def test_config_round_trip_and_errors():
    m = build_model("conv1d", 100, latent_dim=8)
    cfg = dataclasses.asdict(m.config)
    assert cfg["latent_dim"] == 8 and cfg["input_length"] == 100
    rebuilt = build_model("conv1d", cfg.pop("input_length"), **{**cfg, "channels": list(cfg["channels"])})
    rebuilt.load_state_dict(m.state_dict())
    with pytest.raises(InvalidInputError, match="valid models: dense, conv1d, lstm, resconv"):
        build_model("transformer", 140)
    with pytest.raises(InvalidInputError, match="unknown fields"):
        build_model("dense", 140, depth=3)
    with pytest.raises(InvalidInputError, match=">= 16"):
        build_model("conv1d", 8)
    assert set(list_models()) >= {"dense", "conv1d", "lstm", "resconv"}


def test_cli_names_match_the_model_registry():
    # The CLI reads architecture names from the torch-free names module; they must not drift.
    from cardioclarity.ecg.beats.models import MODEL_REGISTRY
    from cardioclarity.ecg.beats.names import MODEL_DESCRIPTIONS

    assert list(MODEL_DESCRIPTIONS) == list(MODEL_REGISTRY)
    assert all(MODEL_REGISTRY[k].description == v for k, v in MODEL_DESCRIPTIONS.items())

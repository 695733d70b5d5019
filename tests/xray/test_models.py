"""Model registry, configs and preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cardioclarity.errors import InvalidInputError
from cardioclarity.xray.models import (
    BoxConfig,
    SegConfig,
    build_model,
    config_from_dict,
    preprocess,
)


def test_seg_outputs_three_channels():
    net = build_model("seg", SegConfig(input_size=64, channels=(4, 8, 16), strides=(2, 2)))
    assert net(torch.zeros(2, 1, 64, 64)).shape == (2, 3, 64, 64)


def test_box_outputs_ordered_corners():
    net = build_model("box", {"input_size": 64, "block_inplanes": [4, 8, 16, 16]})
    out = net(torch.randn(3, 1, 64, 64))
    assert out.shape == (3, 4)
    assert (out[:, 2] >= out[:, 0]).all() and (out[:, 3] >= out[:, 1]).all()


def test_unknown_model_lists_options():
    with pytest.raises(InvalidInputError, match=r"valid options: \['box', 'seg'\]"):
        build_model("resnet")
    with pytest.raises(InvalidInputError, match="needs a SegConfig"):
        build_model("seg", BoxConfig())


@pytest.mark.parametrize("size", [100, 48])
def test_seg_input_size_that_the_unet_cannot_halve_evenly_is_a_clear_error(size):
    with pytest.raises(InvalidInputError, match=rf"multiple of 16 .* at least 64 pixels, got {size}"):
        build_model("seg", {"input_size": size})


def test_cli_train_rejects_a_bad_input_size(tmp_path):
    from conftest import run_cli

    p = run_cli("xray", "train", "--data-dir", str(tmp_path), "--model", "seg", "--out",
                str(tmp_path / "x.pt"), "--input-size", "100")
    assert p.returncode != 0 and "multiple of 16" in p.stderr


def test_config_from_dict_ignores_unknown_and_restores_tuples():
    cfg = config_from_dict("seg", {"channels": [8, 16], "strides": [2], "bogus": 1})
    assert cfg.channels == (8, 16) and cfg.strides == (2,)
    assert config_from_dict("box", {"layers": [2, 2, 2, 2]}).layers == (2, 2, 2, 2)


def test_preprocess_resizes_and_standardises():
    img = np.random.default_rng(0).random((100, 80)).astype(np.float32) * 0.3 + 0.5
    x = preprocess(img, 32)
    assert x.shape == (1, 1, 32, 32)
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 0.05
    # Brightness and contrast changes between sites do not change the input.
    assert torch.allclose(preprocess(img * 0.5 + 0.1, 32), x, atol=1e-4)

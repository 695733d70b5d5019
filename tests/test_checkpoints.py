import pytest
import torch

from cardioclarity.checkpoints import describe_checkpoint, load_checkpoint, save_checkpoint
from cardioclarity.errors import CheckpointError, InputFileNotFoundError


def test_roundtrip_is_self_describing(tmp_path):
    model = torch.nn.Linear(3, 2)
    p = save_checkpoint(tmp_path / "m.pt", kind="test-kind", model="linear",
                        config={"in": 3, "out": 2}, state_dict=model.state_dict(), threshold=0.5)
    ckpt = load_checkpoint(p, expected_kind="test-kind")
    assert ckpt["config"] == {"in": 3, "out": 2}
    assert ckpt["threshold"] == 0.5
    m2 = torch.nn.Linear(3, 2)
    m2.load_state_dict(ckpt["state_dict"])
    assert torch.equal(m2.weight, model.weight)
    assert "state_dict" not in describe_checkpoint(ckpt)


def test_wrong_kind_corrupt_and_missing(tmp_path):
    p = save_checkpoint(tmp_path / "m.pt", kind="a", model="x", config={}, state_dict={})
    with pytest.raises(CheckpointError, match="expected b"):
        load_checkpoint(p, expected_kind="b")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(p.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="could not be read"):
        load_checkpoint(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a CardioClarity checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(InputFileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")

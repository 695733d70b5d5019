"""Self-describing checkpoints and the registry of bundled weights.

A checkpoint is one ``torch.save``-d dict that rebuilds its model without guessing::

    {
      "format": "cardioclarity-checkpoint/1",
      "kind": "ecg-beat-detector",          # which loader understands it
      "model": "conv1d",                     # registry name of the architecture
      "config": {...},                       # the typed config, as a plain dict
      "state_dict": {...},                   # tensors
      "cardioclarity_version": "0.1.0",
      "created_utc": "2026-11-22T03:00:00Z",
      ...                                    # kind-specific metadata: threshold, input_size,
    }                                        # preprocessing, label convention, training data, metrics

Checkpoints hold only tensors and plain Python values, so they load with
``torch.load(weights_only=True)``: opening a file never executes code from it.

Bundled weights live in ``cardioclarity/weights/<name>.pt`` with a model card ``<name>.md``.
"""

from __future__ import annotations

import datetime as _dt
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from cardioclarity import __version__
from cardioclarity.errors import CheckpointError, InputFileNotFoundError, exception_summary

CHECKPOINT_FORMAT = "cardioclarity-checkpoint/1"
_REQUIRED = ("format", "kind", "model", "config", "state_dict")

__all__ = [
    "CHECKPOINT_FORMAT",
    "bundled_path",
    "describe_checkpoint",
    "card_from_checkpoint",
    "list_bundled",
    "load_checkpoint",
    "save_checkpoint",
]


def save_checkpoint(
    path: str | Path,
    *,
    kind: str,
    model: str,
    config: dict[str, Any],
    state_dict: dict[str, Any],
    **metadata: Any,
) -> Path:
    """Write a self-describing checkpoint.

    Parameters
    ----------
    path : str or Path
        Destination file (parent folders are created).
    kind : str
        What loader understands it, e.g. ``"ecg-beat-detector"`` or ``"xray-heart-seg"``.
    model : str
        Architecture name in the relevant model registry.
    config : dict
        The architecture/training config as plain values (``dataclasses.asdict``).
    state_dict : dict
        Model weights.
    **metadata
        Plain-value metadata (threshold, input_size, preprocessing, label convention,
        training-data description, metrics...).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "kind": kind,
        "model": model,
        "config": dict(config),
        "state_dict": {k: v.detach().cpu() if torch.is_tensor(v) else v for k, v in state_dict.items()},
        "cardioclarity_version": __version__,
        "created_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **metadata,
    }
    # Write then rename, so an interrupted save never leaves a half-written checkpoint behind.
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path, expected_kind: str | tuple[str, ...] | None = None) -> dict:
    """Load and validate a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or Path
        Checkpoint file, or the name of a bundled checkpoint (see :func:`list_bundled`).
    expected_kind : str or tuple of str, optional
        Raise :class:`CheckpointError` if the checkpoint is of another kind.

    Raises
    ------
    InputFileNotFoundError
        The file does not exist and is not a bundled name.
    CheckpointError
        The file is not a CardioClarity checkpoint, is corrupt, or is of another kind.
    """
    p = Path(path)
    if not p.exists():
        if str(path) in list_bundled():
            p = bundled_path(str(path))
        else:
            raise InputFileNotFoundError(
                f"Checkpoint '{path}' does not exist.",
                hint=f"give a checkpoint file path or one of the bundled names: {sorted(list_bundled())}.",
            )
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt/foreign files
        raise CheckpointError(
            f"'{p}' could not be read as a CardioClarity checkpoint ({exception_summary(exc)}).",
            hint="the file may be truncated or not a checkpoint; re-download or retrain it.",
        ) from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"'{p}' is not a CardioClarity checkpoint (expected format '{CHECKPOINT_FORMAT}').",
            hint="use a checkpoint written by `cardioclarity ... train`.",
        )
    missing = [k for k in _REQUIRED if k not in ckpt]
    if missing:
        raise CheckpointError(f"Checkpoint '{p}' lacks required fields {missing}.")
    if expected_kind is not None:
        kinds = (expected_kind,) if isinstance(expected_kind, str) else tuple(expected_kind)
        if ckpt["kind"] not in kinds:
            raise CheckpointError(
                f"Checkpoint '{p}' holds a '{ckpt['kind']}' model, expected {' or '.join(kinds)}.",
                hint="pass a checkpoint trained for this command.",
            )
    ckpt["path"] = str(p)
    return ckpt


def describe_checkpoint(ckpt: dict) -> dict:
    """Checkpoint metadata without the weights (for `/v1/models`, reports and model cards)."""
    return {k: v for k, v in ckpt.items() if k != "state_dict"}


#: Fields of a checkpoint that make up a model's ``.card`` (what ``/v1/models`` and reports show).
CARD_FIELDS = ("name", "kind", "model", "cardioclarity_version", "created_utc", "training_data",
               "protocol", "metrics", "threshold", "ctr_threshold", "input_length", "input_size",
               "label_convention")


def card_from_checkpoint(ckpt: dict) -> dict:
    """The model card of a loaded checkpoint: name, kind, version, training data, metrics.

    Every model class exposes this as its ``.card`` attribute. ``name`` is the bundled name or
    the file stem of ``ckpt["path"]``.
    """
    card = {k: ckpt[k] for k in CARD_FIELDS if k in ckpt}
    if "name" not in card and ckpt.get("path"):
        card["name"] = Path(str(ckpt["path"])).stem
    return card


def _weights_dir() -> Path:
    return Path(str(resources.files("cardioclarity") / "weights"))


def list_bundled() -> dict[str, Path]:
    """Bundled checkpoints shipped inside the package, by name."""
    d = _weights_dir()
    return {p.stem: p for p in sorted(d.glob("*.pt"))} if d.is_dir() else {}


def bundled_path(name: str) -> Path:
    """Path of a bundled checkpoint, with an error listing the valid names."""
    bundled = list_bundled()
    if name not in bundled:
        raise InputFileNotFoundError(
            f"No bundled checkpoint named '{name}'.", hint=f"valid names: {sorted(bundled)}."
        )
    return bundled[name]

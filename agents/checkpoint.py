"""Checkpoints: a directory holding safetensors weights, training state and a JSON config.

Layout of a checkpoint directory::

    model.safetensors      the model's parameters, bit for bit
    training.safetensors   optimizer tensors and RNG states (what an exact resume needs)
    config.json            model kind and config, train config, step, env id and kwargs,
                           token vocabularies, optimizer hyperparameters, learning curves

The directory is written atomically: everything goes into a fresh temporary directory
beside it, which then replaces the old checkpoint with ``os.replace``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from agents.baselines import build_model
from agents.errors import CheckpointError, UsageError, check_device
from agents.ops.scan import check_method, runnable_method

CHECKPOINT_DIR = "checkpoint"
"""Name of the checkpoint directory inside a run's output directory."""

MODEL_FILE, TRAINING_FILE, CONFIG_FILE = "model.safetensors", "training.safetensors", "config.json"
CONFIG_KEYS = ("model_kind", "model_config", "train_config", "env_id", "env_kwargs", "state")
"""Keys every checkpoint's ``config.json`` holds."""


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    kind: str,
    train_config: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    state: dict[str, Any] | None = None,
) -> None:
    """Write ``model`` (of ``kind``) and, for resuming, ``optimizer`` and the loop's ``state``."""
    path = Path(path)
    config = {
        "model_kind": kind,
        "model_config": model.config,
        "train_config": train_config,
        "env_id": train_config["env_id"],
        "env_kwargs": train_config["env_kwargs"],
        "num_act_tokens": model.num_act_tokens,
        "num_obs_tokens": model.num_obs_tokens,
        "state": state or {},
    }
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = rng
    if optimizer is not None:
        saved = optimizer.state_dict()
        config["optimizer_param_groups"] = saved["param_groups"]
        for index, values in saved["state"].items():
            for name, value in values.items():
                tensors[f"optimizer.{index}.{name}"] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        weights = {name: p.detach().contiguous() for name, p in model.state_dict().items()}
        save_file(weights, tmp / MODEL_FILE)
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp / TRAINING_FILE
        )
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, default=_json_default))
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_config(path: str | Path) -> dict[str, Any]:
    """The JSON config of a checkpoint directory.

    Raises :class:`~agents.errors.CheckpointError` when ``path`` is not a checkpoint directory
    (pointing at the run's ``checkpoint/`` subfolder when ``path`` is a run folder) or when its
    ``config.json`` is corrupt.
    """
    path = Path(path)
    file = path / CONFIG_FILE
    if not file.is_file():
        inner = path / CHECKPOINT_DIR
        hint = (
            f"; it is a run folder: pass {inner}"
            if (inner / CONFIG_FILE).is_file()
            else f" (a checkpoint is the {CHECKPOINT_DIR}/ folder of a run, holding {CONFIG_FILE})"
        )
        what = (
            "is not a checkpoint folder"
            if path.is_dir()
            else "is a file, not a checkpoint folder"
            if path.exists()
            else "does not exist"
        )
        raise CheckpointError(f"{path} {what}{hint}")
    try:
        meta = json.loads(file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{file} is corrupt: {error}") from None
    missing = [key for key in CONFIG_KEYS if key not in meta] if isinstance(meta, dict) else ["*"]
    if missing:
        raise CheckpointError(f"{file} is corrupt: it lacks {', '.join(missing)}")
    return meta


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu", scan: str | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """The model of a checkpoint (in eval mode, on ``device``) and its JSON config.

    The scan method and the device are chosen here, where the model runs, not by the run that
    wrote it: ``scan`` (a boolean RNN's, :data:`agents.ops.scan.METHODS`) replaces the saved
    one, and by default a saved method that cannot run on ``device`` (``fused`` off CUDA) gives
    way to ``auto``. ``meta["model_config"]`` keeps what the run trained with.

    Raises :class:`~agents.errors.CheckpointError` for a path that is not a checkpoint, a
    corrupt file, or weights that do not fit the model the config describes (another run's),
    and :class:`~agents.errors.UsageError` for a device this machine lacks or a scan method
    that cannot run on it.
    """
    device = check_device(device)
    meta = read_config(path)
    config = dict(meta["model_config"])
    if scan is not None:
        if meta["model_kind"] != "boolean":
            raise UsageError(
                f"a scan method is for boolean RNN checkpoints, not {meta['model_kind']}"
            )
        check_method(scan, device)
        config["scan"] = scan
    elif "scan" in config:
        config["scan"] = runnable_method(config["scan"], device)
    try:
        model = build_model(meta["model_kind"], config)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{Path(path) / CONFIG_FILE} is corrupt: {error}") from None
    load_weights(model, Path(path) / MODEL_FILE)
    return model.to(device).eval(), meta


def load_weights(model: nn.Module, file: Path) -> None:
    """Load the safetensors ``file`` into ``model`` (on the model's device).

    Raises :class:`~agents.errors.CheckpointError` naming the file when it is missing, corrupt
    (truncated, overwritten) or holds tensors of other names or shapes than ``model``'s.
    """
    device = next(model.parameters()).device
    tensors = read_tensors(file, device)
    wanted = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    found = {name: tuple(value.shape) for name, value in tensors.items()}
    if found != wanted:
        differ = [
            f"{name} {found.get(name, 'missing')} (the config's model: {wanted.get(name, 'none')})"
            for name in sorted(found.keys() | wanted.keys())
            if found.get(name) != wanted.get(name)
        ]
        raise CheckpointError(
            f"{file} does not hold the weights of the model its {CONFIG_FILE} describes "
            f"(another run's weights?): {'; '.join(differ)}"
        )
    model.load_state_dict(tensors)


def read_tensors(file: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors ``file``; :class:`~agents.errors.CheckpointError` naming
    the file when it is missing or corrupt."""
    if not file.is_file():
        raise CheckpointError(f"{file} is missing: the checkpoint is incomplete")
    try:
        return load_file(file, device=str(device))
    except (SafetensorError, OSError, RuntimeError) as error:
        raise CheckpointError(f"{file} is corrupt (truncated or overwritten?): {error}") from None


def restore_training(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    config: dict[str, Any],
    defaults: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Load weights, optimizer and RNG state into a run built from ``config``; return its state.

    Raises :class:`~agents.errors.CheckpointError` when the checkpoint was written by a run
    with a different config (anything but ``steps``, the device, the scan method and the
    eval/checkpoint intervals), or is not a checkpoint, or is corrupt (see
    :func:`load_checkpoint`). A setting the checkpoint lacks (added to the config after it was
    written) counts as its value in ``defaults``: the run that wrote it had that behaviour.
    """
    meta = read_config(path)
    free = {"steps", "device", "scan", "eval_interval", "checkpoint_interval"}
    added = {k: v for k, v in (defaults or {}).items() if k not in meta["train_config"]}
    saved = {k: v for k, v in {**added, **meta["train_config"]}.items() if k not in free}
    wanted = json.loads(
        json.dumps({k: v for k, v in config.items() if k not in free}, default=_json_default)
    )
    if saved != wanted:
        diff = sorted(k for k in saved.keys() | wanted.keys() if saved.get(k) != wanted.get(k))
        raise CheckpointError(f"cannot resume {path}: its run differs in {diff}")
    load_weights(model, Path(path) / MODEL_FILE)
    tensors = read_tensors(Path(path) / TRAINING_FILE)
    optimizer_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            optimizer_state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict(
        {"state": optimizer_state, "param_groups": meta["optimizer_param_groups"]}
    )
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda_states:
        torch.cuda.set_rng_state_all(cuda_states)
    return meta["state"]


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to a checkpoint config")

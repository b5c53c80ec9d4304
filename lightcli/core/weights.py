"""Pretrained weights from YAML: a state dict or a Lightning checkpoint loaded into the model or a sub-module."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from lightcli.config.problems import ConfigError, Problem
from lightcli.core.params import canonical, matches_prefix, module_names

__all__ = ["LoadReport", "Weights", "load_and_report", "load_weights"]

_KEY = "system.weights"
_SHOWN = 8


@dataclass
class Weights:
    """Weights to load into ``system.model`` (or one of its sub-modules) when the System is built.

    Loaded when the System is built, before training, validation, testing or prediction starts; a
    checkpoint given with ``--ckpt_path`` is restored afterwards and wins. A run's checkpoint remembers
    this setting, so the file must still exist when that checkpoint is used, unless
    ``--system.weights null`` is given.
    """

    path: str | None
    """A file saved with ``torch.save(model.state_dict(), path)``, or a Lightning checkpoint (``.ckpt``)
    of an earlier run. Null loads nothing: the model keeps its initial weights (a template config whose
    file is given on the command line with ``--system.weights.path <file>``)."""
    module: str | int | None = None
    """Load into this sub-module of ``system.model`` (e.g. ``backbone``) instead of the whole model."""
    remap: dict[str, str] = field(default_factory=dict)
    """Key prefixes to rename, file -> model, e.g. ``{"encoder.": "backbone."}`` or ``{"net.": ""}``.
    The longest matching prefix is replaced."""
    ignore: list[str | int] = field(default_factory=list)
    """Keys not to load, by name or module prefix, as in the file or as in the model (e.g. ``head`` to
    start the head from scratch)."""


@dataclass
class LoadReport:
    """What a load did: key names relative to the module loaded into."""

    loaded: list[str]
    """Keys loaded from the file."""
    missing: list[str]
    """Keys of the module the file has no value for; they keep their initial values."""
    unexpected: list[str]
    """Keys of the file the module does not have; they are not loaded."""
    ignored: list[str]
    """Keys of the file left out by ``ignore``."""

    def describe(self, path: str, target: str) -> str:
        """A short text for the console."""
        lines = [
            f"weights: loaded {len(self.loaded)} tensor{'' if len(self.loaded) == 1 else 's'} from {path} into {target}"
        ]
        for label, keys in (
            ("missing (kept as initialized)", self.missing),
            ("unexpected (not loaded)", self.unexpected),
            ("ignored", self.ignored),
        ):
            if keys:
                lines.append(f"  {label}: {_shorten(keys)}")
        return "\n".join(lines)


def _shorten(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f" ... and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else "")


_SAVE = "Save the weights with torch.save(model.state_dict(), path)."


def _read(path: str) -> dict[str, torch.Tensor]:
    file = Path(path).expanduser()
    if not file.is_file():
        what = "a folder" if file.is_dir() else "no such file"
        raise ConfigError(
            Problem(
                f"{_KEY}.path",
                "a weights file (a state dict or a Lightning checkpoint)",
                f"{path!r} ({what})",
                "Give the path of a file saved by torch.save or of a .ckpt of an earlier run "
                "(or --system.weights null when --ckpt_path holds the weights).",
            )
        )
    try:
        content = torch.load(file, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(
            Problem(f"{_KEY}.path", "a weights file torch can load safely (tensors only)", f"{path!r} ({first})", _SAVE)
        ) from None
    if isinstance(content, nn.Module):  # pragma: no cover - weights_only forbids modules
        content = content.state_dict()
    if not isinstance(content, dict):
        got = f"{type(content).__name__} in {path!r}"
        raise ConfigError(Problem(f"{_KEY}.path", "a state dict or a Lightning checkpoint", got, _SAVE))
    if "state_dict" in content and isinstance(content["state_dict"], dict):
        lightning = "pytorch-lightning_version" in content
        content = content["state_dict"]
        if lightning and any(k.startswith("model.") for k in content):
            # a checkpoint of a lightcli System: its model's keys, without the System's other parts
            content = {k[len("model.") :]: v for k, v in content.items() if k.startswith("model.")}
    tensors = {k: v for k, v in content.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        got = f"a dict without tensors (keys: {_shorten(list(content))}) in {path!r}"
        expected = "a state dict (name -> tensor) or a Lightning checkpoint"
        raise ConfigError(Problem(f"{_KEY}.path", expected, got, _SAVE))
    return tensors


def _remapped(key: str, remap: dict[str, str]) -> str:
    matching = [old for old in remap if key.startswith(old)]
    if not matching:
        return key
    old = max(matching, key=len)
    return remap[old] + key[len(old) :]


def _target(model: nn.Module, module: str | int | None) -> tuple[nn.Module, str]:
    if module is None or module == "":
        return model, "system.model"
    module = str(module)
    names = [name for name, _ in model.named_modules() if name]
    resolved = canonical(module, names, prefix=False)
    if resolved is None:
        fix = f"Sub-modules with parameters: {', '.join(module_names(model)[:12])}."
        raise ConfigError(Problem(f"{_KEY}.module", "a sub-module of system.model", repr(module), fix))
    return model.get_submodule(resolved), f"system.model.{resolved}"


def load_weights(model: nn.Module, weights: Weights) -> LoadReport | None:
    """Loads ``weights`` into ``model`` (``system.model``) and returns what was loaded, or None without a path.

    Raises:
        ConfigError: The file is missing or unreadable, the sub-module does not exist, no key of the
            file matches the module, or a matching key has a different shape.
    """
    if weights.path is None:
        return None
    target, target_name = _target(model, weights.module)
    state = _read(weights.path)
    own = target.state_dict()
    ignore = [str(i) for i in weights.ignore]
    ignore += [i[len("model.") :] for i in ignore if i.startswith("model.")]  # as printed in the model summary
    loaded: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    unexpected: list[str] = []
    for key, value in state.items():
        new = _remapped(key, weights.remap)
        if any(matches_prefix(key, i) or matches_prefix(new, i) for i in ignore):
            ignored.append(key)
        elif new in own:
            loaded[new] = value
        else:
            unexpected.append(key if new == key else f"{key} (as {new})")
    if not loaded:
        raise ConfigError(
            Problem(
                f"{_KEY}.path",
                f"weights for {target_name}",
                f"no key in common in {weights.path!r} "
                f"(file keys: {_shorten(list(state))}; model keys: {_shorten(list(own))})",
                'Rename the file\'s key prefixes with system.weights.remap, e.g. {"encoder.": ""}, or load into a '
                "sub-module with system.weights.module.",
            )
        )
    mismatched = [
        f"{key}: file {tuple(value.shape)}, model {tuple(own[key].shape)}"
        for key, value in loaded.items()
        if value.shape != own[key].shape
    ]
    if mismatched:
        raise ConfigError(
            Problem(
                f"{_KEY}.path",
                f"tensors of {target_name}'s shapes",
                f"different shapes in {weights.path!r} ({_shorten(mismatched)})",
                "Add these keys to system.weights.ignore to keep them as initialized.",
            )
        )
    target.load_state_dict(loaded, strict=False)
    missing = [key for key in own if key not in loaded and not any(matches_prefix(key, i) for i in ignore)]
    return LoadReport(loaded=list(loaded), missing=missing, unexpected=unexpected, ignored=ignored)


def load_and_report(model: nn.Module, weights: Weights | None) -> LoadReport | None:
    """Loads the weights and prints what was loaded (on the first process only)."""
    if weights is None:
        return None
    report = load_weights(model, weights)
    from pytorch_lightning.utilities.rank_zero import rank_zero_only

    if getattr(rank_zero_only, "rank", 0) == 0:
        if report is None:
            print(f"weights: {_KEY}.path is null, so system.model keeps its initial weights")
        else:
            print(report.describe(str(weights.path), _target(model, weights.module)[1]))
    return report

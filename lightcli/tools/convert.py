"""``lightcli convert old.yaml > new.yaml``: a Lighter or Hydra config (``_target_`` + flat arguments) in lightcli's syntax.

What is translated:

- ``_target_: x.Y`` with its arguments beside it -> ``class_path: x.Y`` and ``init_args: {...}``
  (``lighter.System`` -> ``lightcli.System``; ``pytorch_lightning.Trainer`` under ``trainer`` is dropped:
  lightcli's ``trainer`` section holds the Trainer's arguments directly).
- References become shared values, ``${dotted.key}``, with the key as it reads in the new config (``init_args``
  included): Lighter's ``%a::b`` (a copy of the config at ``a::b``, ``%::b`` relative to where it stands),
  ``@a::b`` (the value at ``a::b``) and the older ``#`` separator (``@system#model``); Hydra's ``${a.b}``.
- ``params: $@...parameters()`` of an optimizer and ``optimizer: @...`` of a scheduler are dropped: the System
  passes them in.

What is not: ``$`` Python expressions, Hydra's ``_args_``, ``defaults`` lists and ``???``, Lighter's
``_requires_``/``_disabled_``/``_mode_``, references to another file. Each is written as a YAML comment
saying why, where it stood, so the new file parses and the reader sees what to redo by hand.

Reads YAML only: no torch, no Lightning, nothing imported from the config.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

import yaml

from lightcli.config.problems import ConfigError, Problem
from lightcli.config.safeyaml import load_file

__all__ = ["CLASS_PATHS", "convert", "main"]

CLASS_PATHS: dict[str, str] = {"torch.utils.data.DataLoader": "lightcli.Loader"}
"""Targets with a lightcli counterpart taking the same arguments (a DataLoader: when it uses only Loader's)."""

_LOADER_ARGS = {"dataset", "batch_size", "shuffle", "num_workers", "drop_last", "pin_memory", "collate_fn"}
_LOADER_ARGS |= {"persistent_workers"}

_DROPPED_TARGETS = {
    "trainer": ("pytorch_lightning.Trainer", "lightning.pytorch.Trainer", "lightning.pytorch.trainer.Trainer"),
    "system": ("lighter.System", "lighter.system.System"),
}
"""Top-level sections whose ``_target_`` is lightcli's default there (their arguments stay, without init_args)."""

_WRAPPED: dict[tuple[str, ...], str] = {("system", "scheduler"): "scheduler"}
"""Keys whose Lighter value goes one level down in lightcli (``system.scheduler.scheduler``: the scheduler class)."""

_LIGHTER_MODULE = {
    "network": ("model",),
    "criterion": ("criterion",),
    "optimizer": ("optimizer",),
    "scheduler": ("scheduler",),
    "train_metrics": ("metrics", "train"),
    "val_metrics": ("metrics", "val"),
    "test_metrics": ("metrics", "test"),
}
"""Lighter's ``model:`` (a LighterModule) arguments -> the keys of lightcli's ``system``."""

_LIGHTER_DATA = ("lighter.LighterDataModule", "lighter.data.LighterDataModule")
_LIGHTER_LOADERS = {f"{mode}_dataloader": ("dataloaders", mode) for mode in ("train", "val", "test", "predict")}
"""Lighter's ``data:`` (a LighterDataModule) arguments -> the keys of lightcli's ``system``."""

_LEFT_BEHIND = {
    "model": "its parts moved under system (for steps of its own, subclass lightcli.System)",
    "data": "its dataloaders moved under system.dataloaders",
}

_UNTRANSLATED_KEYS = {
    "_args_": "positional arguments: give them by name in init_args",
    "_recursive_": "lightcli always builds nested class_path entries",
    "_convert_": "not needed: jsonargparse checks the types",
    "_requires_": "Lighter's build order: not needed",
    "_disabled_": "remove the entry instead",
    "_mode_": "Lighter's call mode: lightcli builds classes; use a function's class_path for a callable",
    "defaults": "Hydra's config composition: give several files with --config a.yaml --config b.yaml",
}
_REFERENCE = re.compile(r"^([@%])([\w.:#/-]*)$")
_HYDRA = re.compile(r"\$\{([\w.]+)\}")
_SEPARATOR = re.compile(r"::|#")


class _Converter:
    def __init__(self) -> None:
        self.paths: dict[tuple[str, ...], tuple[str, ...]] = {(): ()}  # source key -> key in the new config
        self.comments: dict[str, str] = {}  # placeholder -> the comment that replaces its line
        self.references: list[tuple[tuple[str, ...], str]] = []  # (source key, placeholder)

    def untranslated(self, value: Any, why: str) -> str:
        marker = f"__lightcli_convert_{len(self.comments)}__"
        shown = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()
        self.comments[marker] = f"{shown}  # lightcli convert: {why}"
        return marker

    def node(self, value: Any, source: tuple[str, ...], target: tuple[str, ...], wrapped: bool = False) -> Any:
        if _is_collection(value) and len(target) == 3 and target[:2] == ("system", "metrics"):
            self.paths[source] = target
            return self.node(value["metrics"], (*source, "metrics"), target)  # lightcli takes a list of metrics
        inner = _WRAPPED.get(target)
        if inner is not None and isinstance(value, dict) and "_target_" in value and not wrapped:
            return {inner: self.node(value, source, (*target, inner), wrapped=True)}
        self.paths[source] = target
        if isinstance(value, dict):
            return self._mapping(value, source, target)
        if isinstance(value, list):
            return [self.node(v, (*source, str(i)), (*target, str(i))) for i, v in enumerate(value)]
        if isinstance(value, str):
            return self._string(value, source)
        return value

    def _mapping(self, value: dict[str, Any], source: tuple[str, ...], target: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        args_target = target
        if "_target_" in value:
            path = str(value["_target_"])
            if len(source) == 1 and path in _DROPPED_TARGETS.get(source[0], ()):
                pass  # lightcli's trainer section: the arguments alone
            else:
                counterpart = CLASS_PATHS.get(path, path)
                if counterpart == "lightcli.Loader" and not set(value) - {"_target_"} <= _LOADER_ARGS:
                    counterpart = path  # a sampler or the like: see the README on DataLoader
                out["class_path"] = counterpart
                if path.startswith("lighter.") and path not in CLASS_PATHS:
                    out["class_path"] = self.untranslated(path, "a Lighter class with no lightcli counterpart")
                out["init_args"] = {}
                args_target = (*target, "init_args")
        init_args = out.get("init_args", out)
        for key, item in value.items():
            key = str(key)
            if key == "_target_":
                continue
            if key == "_partial_":
                continue  # jsonargparse makes a callable of class_path + init_args where the type is a callable
            if key in _UNTRANSLATED_KEYS and (key.startswith("_") or not source):
                init_args[key] = self.untranslated(item, _UNTRANSLATED_KEYS[key])
                continue
            if self._passed_in(key, item, out.get("class_path")):
                continue
            init_args[key] = self.node(item, (*source, key), (*args_target, key))
        if "init_args" in out and not out["init_args"]:
            del out["init_args"]
        return out

    @staticmethod
    def _passed_in(key: str, item: Any, class_path: Any) -> bool:
        """An optimizer's ``params`` or a scheduler's ``optimizer`` given by reference: the System passes them."""
        if not isinstance(item, str) or not isinstance(class_path, str) or not item.lstrip("$").startswith("@"):
            return False
        return (key == "params" and ".optim." in class_path) or (key == "optimizer" and "lr_scheduler" in class_path)

    def _string(self, value: str, source: tuple[str, ...]) -> Any:
        found = _REFERENCE.match(value.strip())
        if found:
            return self._reference(found.group(1), found.group(2), source)
        if _HYDRA.search(value):
            return _HYDRA.sub(lambda m: "${" + self._defer(m.group(1).split(".")) + "}", value)
        if value.startswith("$"):
            return self.untranslated(value, "a Python expression: write its value (or a class_path) by hand")
        if value == "???":
            return self.untranslated(value, "Hydra's mandatory value: give it in the config or on the command line")
        return value

    def _reference(self, kind: str, reference: str, source: tuple[str, ...]) -> Any:
        if ".yaml" in reference or ".yml" in reference:
            return self.untranslated(f"{kind}{reference}", "a reference into another file: copy what it names here")
        parts = _SEPARATOR.split(reference)
        if parts and parts[0] == "":  # %::key: relative to the mapping the reference stands in
            parts = [*source[:-1], *[p for p in parts[1:] if p]]
        return "${" + self._defer([p for p in parts if p]) + "}"

    def _defer(self, parts: list[str]) -> str:
        """A placeholder for the new key of ``parts``: known once the whole config is converted."""
        marker = f"__lightcli_reference_{len(self.references)}__"
        self.references.append((tuple(parts), marker))
        return marker

    def new_key(self, parts: tuple[str, ...]) -> str:
        """The key in the new config of the source key ``parts`` (its longest converted prefix, then the rest)."""
        for n in range(len(parts), -1, -1):
            if parts[:n] in self.paths:
                return ".".join([*self.paths[parts[:n]], *parts[n:]])
        return ".".join(parts)


def _is_collection(value: Any) -> bool:
    """A ``torchmetrics.MetricCollection`` given only its metrics (lightcli names a list of metrics itself)."""
    return (
        isinstance(value, dict)
        and value.get("_target_") == "torchmetrics.MetricCollection"
        and set(value) <= {"_target_", "metrics"}
    )


def _moved(config: dict[str, Any]) -> list[tuple[tuple[str, ...], tuple[str, ...], Any]]:
    """``(source key, key under system, value)`` for Lighter's newer layout: ``model:`` a LighterModule with
    network, criterion, optimizer, ... and ``data:`` a LighterDataModule with ``<mode>_dataloader``."""
    if "system" in config:
        return []
    moved: list[tuple[tuple[str, ...], tuple[str, ...], Any]] = []
    model, data = config.get("model"), config.get("data")
    if isinstance(model, dict) and "_target_" in model and set(model) & set(_LIGHTER_MODULE):
        moved += [(("model", k), _LIGHTER_MODULE[k], v) for k, v in model.items() if k in _LIGHTER_MODULE]
    if isinstance(data, dict) and data.get("_target_") in _LIGHTER_DATA:
        moved += [(("data", k), _LIGHTER_LOADERS[k], v) for k, v in data.items() if k in _LIGHTER_LOADERS]
    return moved


def _place(tree: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    for key in keys[:-1]:
        tree = tree.setdefault(key, {})
    tree[keys[-1]] = value


def convert(config: Any) -> str:
    """The YAML text of a ``_target_`` config in lightcli's syntax, with a comment for each untranslated value."""
    converter = _Converter()
    moved = _moved(config) if isinstance(config, dict) else []
    converted: Any
    if not moved:
        converted = converter.node(config, (), ())
    else:  # Lighter's model + data: the System's keys, each converted where it stood (its references follow)
        converted = {}
        system: dict[str, Any] = {}
        for source, keys, value in moved:
            _place(system, keys, converter.node(value, source, ("system", *keys)))
        sources = {source for source, _, _ in moved}
        for key, value in config.items():
            if key in _LEFT_BEHIND and isinstance(value, dict) and "_target_" in value:
                rest = {n: v for n, v in value.items() if (key, n) not in sources}
                converted[key] = converter.untranslated(rest, _LEFT_BEHIND[key])
            else:
                converted[key] = converter.node(value, (key,), (key,))
        converted["system"] = system
    text = yaml.safe_dump(converted, sort_keys=False, width=120, allow_unicode=True)
    for parts, marker in converter.references:
        text = text.replace(marker, converter.new_key(parts))
    lines = []
    for line in text.splitlines():
        found = next((m for m in converter.comments if m in line), None)
        if found is None:
            lines.append(line)
            continue
        marker = found
        indent = len(line) - len(line.lstrip())
        head = line.strip().replace(marker, "").rstrip()
        lines.append(" " * indent + f"# {head} {converter.comments[marker]}".replace("#  ", "# ").rstrip())
    header = "# converted by `lightcli convert`: check it with `lightcli check fit --config <this file>`\n"
    return header + "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lightcli convert",
        description="Translate a Lighter or Hydra config (_target_ + flat arguments) into class_path + init_args; "
        "prints the new config (redirect it: lightcli convert old.yaml > new.yaml).",
    )
    parser.add_argument("config", help="the config to translate")
    return parser


def main(args: list[str]) -> int:
    """Runs ``lightcli convert`` with its arguments and returns the exit code (2 on bad input)."""
    try:
        options = _parser().parse_args(args)
    except SystemExit as exit:  # --help, or a usage error argparse has printed
        return exit.code if isinstance(exit.code, int) else 0
    config, problem = load_file(options.config, key="CONFIG")
    if problem is None and not isinstance(config, dict):
        problem = Problem(
            "CONFIG",
            "a YAML mapping of keys",
            f"a {type(config).__name__} in {options.config}",
            "Give the path of a Lighter or Hydra YAML config.",
        )
    if problem is not None:
        print(ConfigError([problem]), file=sys.stderr)
        return 2
    sys.stdout.write(convert(config))
    return 0

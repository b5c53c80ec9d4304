"""Where every value of a resolved config came from: ``lightcli fit --config my.yaml --print_config=provenance``.

The resolved config is printed as YAML (it runs as a config) with the origin of each value as a comment:

- ``my.yaml:12``: the file and line that set it (the last one wins, as when parsing);
- ``command line --system.optimizer.init_args.lr``: a ``--key value`` argument;
- ``checkpoint runs/x/version_0/checkpoints/last.ckpt``: the system config stored in a ``--ckpt_path`` checkpoint;
- ``default of torch.optim.Adam``: the default of the class whose argument it is (``default of lightcli.System``,
  ``default of pytorch_lightning.Trainer``, ...).

Keys are matched without their ``init_args`` level, so ``--system.optimizer.lr`` and ``init_args: {lr: ...}``
name the same value. Only computed when asked for: nothing here runs on a normal command.
"""

from __future__ import annotations

from typing import Any

import yaml

from lightcli.config.sources import COMMAND_LINE, Sources

__all__ = ["PROVENANCE_OPTION", "provenance"]

PROVENANCE_OPTION = "--print_config=provenance"
"""The option that prints the resolved config with the origin of every value, instead of running."""


def _plain(key: str) -> str:
    """A dotted key without its ``init_args`` levels (``system.init_args.model.init_args.hidden`` -> ``system.model.hidden``)."""
    return ".".join(part for part in key.replace("[", ".").replace("]", "").split(".") if part != "init_args")


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


class _Origins:
    """The origin of each key of one resolved config."""

    def __init__(
        self, resolved: dict[str, Any], sources: Sources, owners: dict[str, str], checkpoint: tuple[str, Any] | None
    ) -> None:
        self.resolved = resolved
        self.tree = sources.tree
        self.owners = owners
        self.given = {_plain(key): (key, origin) for key, origin in sources.origins.items()}
        self.references = {_plain(key): written for key, written in sources.references.items()}
        self.checkpoint = checkpoint[0] if checkpoint else ""
        self.stored = {_plain(k) for k in _flatten({"system": checkpoint[1]}, "")} if checkpoint else set()

    def __call__(self, key: str) -> str:
        plain = _plain(key)
        candidates = [plain]
        parent = plain[: -len(".class_path")]
        if plain.endswith(".class_path") and isinstance(self._given(parent), str):
            candidates.append(parent)  # --system.model lightcli.MLP (or model: lightcli.MLP) sets model's class_path
        for candidate in candidates:
            if candidate in self.given:
                given, origin = self.given[candidate]
                where = f"command line --{given}" if origin == COMMAND_LINE else origin
                written = self.references.get(candidate)
                return f"{where}, from {written}" if written is not None else where
        if plain in self.stored:
            return f"checkpoint {self.checkpoint}"
        return f"default of {self._owner(key)}"

    def _given(self, plain: str) -> Any:
        """The value the user gave at a key without its ``init_args`` levels (None when not given)."""
        node: Any = self.tree
        for part in plain.split("."):
            if not isinstance(node, dict):
                return None
            inner = node.get("init_args")
            node = node.get(part, inner.get(part) if isinstance(inner, dict) else None)
        return node

    def _owner(self, key: str) -> str:
        """The class whose default a key holds: the nearest enclosing ``class_path``, else the section's owner."""
        if key in self.owners:
            return self.owners[key]
        parts = key.split(".")
        end = len(parts) - 2 if parts[-1] == "class_path" else len(parts) - 1
        for stop in range(end, -1, -1):
            prefix = ".".join(parts[:stop])
            node = self._node(parts[:stop])
            if isinstance(node, dict) and isinstance(node.get("class_path"), str):
                return str(node["class_path"])
            if prefix in self.owners:
                return self.owners[prefix]
        return self.owners.get("", "lightcli")

    def _node(self, parts: list[str]) -> Any:
        node: Any = self.resolved
        for part in parts:
            if not isinstance(node, dict):
                return None
            node = node.get(part)
        return node


def provenance(
    resolved: dict[str, Any],
    sources: Sources,
    owners: dict[str, str],
    checkpoint: tuple[str, Any] | None = None,
) -> str:
    """The resolved config as YAML, each value followed by ``# <origin>``.

    Args:
        resolved: The config in force, as dumped by the parser (``class_path``/``init_args`` spelled out).
        sources: The config files and ``--key value`` arguments the user gave (:func:`lightcli.config.sources.read_sources`).
        owners: The owner of the defaults of a section without a class_path, by dotted key (``"trainer"``:
            ``"pytorch_lightning.Trainer"``; ``""``: the top level).
        checkpoint: The ``--ckpt_path`` file and the system config it stores, when one was given.
    """
    origin = _Origins(resolved, sources, owners, checkpoint)
    lines: list[str] = []
    _write(resolved, "", 0, origin, lines)
    return "\n".join(lines) + "\n"


def _write(node: dict[str, Any], prefix: str, depth: int, origin: _Origins, lines: list[str]) -> None:
    pad = "  " * depth
    for name, value in node.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{_scalar(name)}:")
            _write(value, f"{key}.", depth + 1, origin, lines)
        else:
            lines.append(f"{pad}{_scalar(name)}: {_scalar(value)}  # {origin(key)}")


def _scalar(value: Any) -> str:
    """A value on one line, as YAML writes it (lists and mappings in flow style)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=float("inf"), sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()

"""Checks made before the parser imports anything: the subcommand, the place of --config, the allowlist, the library versions.

The class paths stored in a ``--ckpt_path`` checkpoint are checked by :func:`checkpoint_problems`, given
the stored config by :mod:`lightcli.run.ckptpath` (which reads the checkpoint once; this package never imports
torch), and a parsed config that asks to load a checkpoint with ``weights_only: false`` is refused by
:func:`no_pickle`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from lightcli.config.allowlist import allowed_prefixes, import_paths, refused
from lightcli.config.classpaths import alias_lightning
from lightcli.config.commands import SUBCOMMANDS
from lightcli.config.files import read_text
from lightcli.config.problems import ConfigError, Problem, not_a_mapping, suggest
from lightcli.config.safeyaml import load_file
from lightcli.config.sources import COMMAND_LINE, origin_file, read_sources
from lightcli.upstream.versions import installed_versions, unchecked_versions

__all__ = ["checkpoint_problems", "no_pickle", "preflight", "version_problems", "versions_text"]


# -- before parsing ---------------------------------------------------------------------------------------


def preflight(argv: list[str], subcommands: list[str]) -> None:
    """Checks what can be checked before the parser imports anything: the subcommand and the allowlist.

    Raises:
        ConfigError: with every problem found.
    """
    position = next((i for i, a in enumerate(argv) if a in subcommands), None)
    if position is None:
        # a bare word that is not the value of an option (`--config my.yaml`) stands where the subcommand goes
        bare = [
            a
            for i, a in enumerate(argv)
            if not a.startswith("-") and not (i and argv[i - 1].startswith("-") and "=" not in argv[i - 1])
        ]
        if bare or not any(a in ("-h", "--help") for a in argv):
            given = f"{bare[0]!r}" if bare else "nothing"
            hint = suggest(bare[0], subcommands) if bare else ""
            example = " ".join(argv) if argv and not bare else "--config my.yaml"
            raise ConfigError(
                [
                    Problem(
                        "subcommand",
                        f"one of {', '.join(subcommands)}",
                        given,
                        f"Write e.g. `lightcli fit {example}`.{hint}",
                    )
                ]
            )
        return
    before = argv[:position]
    if any(a == "--config" or a.startswith(("--config=", "-c")) for a in before) and not _top_level_config(before):
        raise ConfigError(
            [
                Problem(
                    "--config",
                    "it after the subcommand",
                    f"it before {argv[position]!r}",
                    f"Write `lightcli {argv[position]} --config FILE`.",
                    COMMAND_LINE,
                )
            ]
        )
    sources = read_sources(argv[position + 1 :])
    foreign = _target_syntax(sources.tree, sources.origin)
    if foreign is not None:  # one message, not one per key of a Lighter or Hydra config
        raise ConfigError([foreign])
    if any(path.startswith(("lightning.pytorch.", "lightning.fabric.")) for _, path in import_paths(sources.tree)):
        alias_lightning()  # as Lightning's docs write them: the pytorch_lightning classes (lightcli.config.classpaths)
    problems = [*sources.problems, *_section_problems(sources.tree, sources.origin)]
    problems += _outside_allowlist(sources.tree, "", sources.origin)
    if allowed_prefixes() is not None:  # what jsonargparse reads besides: appended values, files named by values
        for key, value in sources.appended:
            problems += _outside_allowlist(value, key, lambda _: COMMAND_LINE)
        for key, file, content in _referenced_files(sources.tree, "", sources.origin):
            problems += _outside_allowlist(content, key, lambda _, file=file: file)  # type: ignore[misc]
    if problems:
        raise ConfigError(problems)


def _target_keys(tree: Any, prefix: str = "") -> list[str]:
    """The dotted keys of the mappings in ``tree`` that name their class with ``_target_`` (Lighter, Hydra)."""
    found = []
    if isinstance(tree, dict):
        if "_target_" in tree:
            found.append(prefix)
        for key, value in tree.items():
            found += _target_keys(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            found += _target_keys(value, f"{prefix}.{i}")
    return found


def _target_syntax(tree: Any, origin: Callable[[str], str | None]) -> Problem | None:
    """One problem for a config written with ``_target_`` (Lighter's or Hydra's syntax), naming how to translate it."""
    keys = _target_keys(tree)
    if not keys:
        return None
    where = origin(keys[0])
    file = origin_file(where) if where and where != COMMAND_LINE else "old.yaml"
    more = f" and {len(keys) - 1} more" if len(keys) > 1 else ""
    return Problem(
        keys[0] or "_target_",
        "class_path + init_args (lightcli's syntax)",
        f"_target_ with flat arguments (Lighter's or Hydra's syntax) at {keys[0] or 'the top level'}{more}",
        f"Translate the file: `lightcli convert {file} > new.yaml`, then check new.yaml's comments.",
        where,
    )


_SECTIONS = {"trainer": (dict,), "run": (dict,), "system": (dict, str), "data": (dict, str)}
"""The top-level sections and what each may be given as (a class_path string names a class without init_args)."""


def _section_problems(tree: dict[str, Any], origin: Callable[[str], str | None]) -> list[Problem]:
    """A section of the wrong shape (``trainer: [1, 2]``): jsonargparse would pass it on to fail later."""
    return [
        not_a_mapping(key, tree[key], origin(key))
        for key, shapes in _SECTIONS.items()
        if tree.get(key) is not None and not isinstance(tree[key], shapes)
    ]


def checkpoint_problems(stored: dict[str, Any] | None, ckpt: str) -> list[Problem]:
    """The class paths outside the allowlist in the system config stored in the checkpoint ``ckpt``.

    Checked before the stored config is parsed, so nothing of it is imported.
    """
    if stored is None or allowed_prefixes() is None:
        return []
    return _outside_allowlist(stored, "system", lambda key: f"the checkpoint {ckpt}")


def no_pickle(config: Any) -> None:
    """Makes the trainer load a checkpoint with ``weights_only=True`` (no code unpickled), refusing ``false``.

    Args:
        config: The parsed config of a Lightning subcommand, a jsonargparse Namespace (its ``weights_only`` is set to
            True when present).

    Raises:
        ConfigError: ``weights_only: false`` was given.
    """
    if "weights_only" not in config:
        return
    if config.get("weights_only") is False:
        fix = "Remove it: lightcli loads every checkpoint with weights_only=True (no code is unpickled)."
        raise ConfigError(Problem("weights_only", "true or null (no pickle)", "false", fix))
    config.weights_only = True


def _outside_allowlist(tree: Any, prefix: str, origin: Callable[[str], str | None]) -> list[Problem]:
    """A problem for each import path in ``tree`` (its keys under ``prefix``) that the allowlist refuses."""
    problems = []
    for key, path in import_paths(tree, prefix):
        blocked = refused(path)
        if blocked is not None:
            problems.append(Problem(key, *blocked, origin=origin(key)))
    return problems


_MAX_REFERENCED = 1 << 20  # a file named by a value and larger than this is data, not a config
_DATA_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin", ".safetensors", ".npy", ".npz", ".csv", ".png", ".jpg", ".py"}


def _referenced_files(
    tree: Any, key: str, origin: Callable[[str], str | None], depth: int = 0
) -> Iterator[tuple[str, str, Any]]:
    """``(key, file, content)`` for each value that names a YAML file jsonargparse would read as the key's config.

    A value such as ``model: model.cfg`` (any name) is read relative to the config file that gives it (the
    working directory for the command line), as jsonargparse does; files named inside it are followed too.
    """
    if isinstance(tree, dict):
        for name, value in tree.items():
            yield from _referenced_files(value, f"{key}.{name}" if key else str(name), origin, depth)
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _referenced_files(value, f"{key}[{i}]", origin, depth)
    elif isinstance(tree, str) and depth < 4 and "\n" not in tree and 0 < len(tree) < 4096:
        given = origin(key)
        given = origin_file(given) if given and given != COMMAND_LINE else None
        base = Path(given).parent if given and Path(given).is_file() else Path()
        file = base / tree
        try:
            if file.suffix in _DATA_SUFFIXES or not file.is_file() or file.stat().st_size > _MAX_REFERENCED:
                return
            content = yaml.safe_load(read_text(file, encoding="utf-8", errors="replace"))
        except (OSError, ValueError, yaml.YAMLError):
            return
        if isinstance(content, (dict, list)):
            yield key, str(file), content
            yield from _referenced_files(content, key, lambda _: str(file), depth + 1)


def _top_level_config(before: list[str]) -> bool:
    """Whether the config files before the subcommand are jsonargparse top-level ones (``fit:`` keys)."""
    paths = [a.split("=", 1)[1] for a in before if a.startswith("--config=")]
    paths += [before[i + 1] for i, a in enumerate(before[:-1]) if a in ("--config", "-c")]
    contents = [load_file(p)[0] for p in paths]
    return bool(contents) and all(isinstance(c, dict) and any(k in c for k in SUBCOMMANDS) for c in contents)


def version_problems() -> list[Problem]:
    """One problem for each installed library outside the versions lightcli was checked on (see lightcli.upstream)."""
    return [
        Problem(
            name,
            f"a version {checked} (the versions lightcli was checked on)",
            installed,
            f"Install one: pip install '{name}{checked}'.",
        )
        for name, installed, checked in unchecked_versions()
    ]


def versions_text() -> str:
    """What ``lightcli --version`` prints: lightcli's version, then its main dependencies' (one per line)."""
    versions = installed_versions()
    lightcli = versions.pop("lightcli", None) or "unknown (not installed as a package)"
    lines = [f"lightcli {lightcli}"]
    lines += [f"  {name} {version or 'not installed'}" for name, version in versions.items()]
    return "\n".join(lines)

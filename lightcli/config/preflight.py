"""Checks made before the parser imports anything: the subcommand, the place of --config, the allowlist, the library versions.

The class paths stored in a ``--ckpt_path`` checkpoint are checked by :func:`checkpoint_problems`, given
the stored config by :mod:`lightcli.cli` (which reads the checkpoint once; this package never imports torch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lightcli.config.allowlist import allowed_prefixes, import_paths, refused
from lightcli.config.classpaths import alias_lightning
from lightcli.config.commands import SUBCOMMANDS
from lightcli.config.problems import ConfigError, Problem, not_a_mapping, suggest
from lightcli.config.sources import COMMAND_LINE, load_file, read_sources
from lightcli.upstream.versions import unchecked_versions

__all__ = ["checkpoint_problems", "preflight", "version_problems"]


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
    if any(path.startswith(("lightning.pytorch.", "lightning.fabric.")) for _, path in import_paths(sources.tree)):
        alias_lightning()  # as Lightning's docs write them: the pytorch_lightning classes (lightcli.config.classpaths)
    problems = [*sources.problems, *_section_problems(sources.tree, sources.origin)]
    problems += _outside_allowlist(sources.tree, "", sources.origin)
    if problems:
        raise ConfigError(problems)


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


def _outside_allowlist(tree: Any, prefix: str, origin: Callable[[str], str | None]) -> list[Problem]:
    """A problem for each import path in ``tree`` (its keys under ``prefix``) that the allowlist refuses."""
    problems = []
    for key, path in import_paths(tree, prefix):
        blocked = refused(path)
        if blocked is not None:
            problems.append(Problem(key, *blocked, origin=origin(key)))
    return problems


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

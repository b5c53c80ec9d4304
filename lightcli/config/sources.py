"""What the user gave: config files and command-line values merged into one tree, each key with its origin.

This mirrors how ``lightcli`` merges ``--config`` files and ``--key value`` overrides, so that an error
can name the key as the user wrote it and the file and line (or the command line) it came from. Each
file is read by :func:`lightcli.config.safeyaml.load_marked`, the one loader that keeps lines; here its
keys are merged in order, with the declared migrations applied and the ``${...}`` references resolved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lightcli.config.migrations import migrate, read_migrated, report
from lightcli.config.problems import ConfigError, Problem
from lightcli.config.references import resolve_references, resolved_arguments, resolved_reader
from lightcli.config.safeyaml import load_marked
from lightcli.upstream.jsonargparse import read_config_files_with

__all__ = [
    "COMMAND_LINE",
    "Sources",
    "origin_file",
    "read_sources",
    "shared_values",
]

COMMAND_LINE = "the command line"
"""The origin of values given as ``--key value``."""

_NO_VALUE_OPTIONS = {"--help", "-h", "--print_config", "--run"}


@dataclass
class Sources:
    """The merged user config of one subcommand."""

    tree: dict[str, Any] = field(default_factory=dict)
    """Every key the user gave, nested as in YAML."""
    origins: dict[str, str] = field(default_factory=dict)
    """Dotted key -> where it was set (``file.yaml:12``, a file name, or :data:`COMMAND_LINE`)."""
    problems: list[Problem] = field(default_factory=list)
    """Files that could not be read and arguments that could not be understood."""
    skipped: set[str] = field(default_factory=set)
    """Keys set in ways this module does not model (e.g. ``--trainer.callbacks+=``); not checked."""
    files: list[str] = field(default_factory=list)
    """The config files, in order."""
    appended: list[tuple[str, Any]] = field(default_factory=list)
    """The values given with ``--key+=value``, as ``(key, value)``: not merged, but checked by the allowlist."""
    shared: bool = False
    """Whether the config holds ``${dotted.key}`` references (resolved in :attr:`tree`, :mod:`lightcli.config.references`)."""
    references: dict[str, str] = field(default_factory=dict)
    """Dotted key -> the value as written (``${trainer.max_epochs}``), for each value resolved from a reference."""

    def origin(self, key: str) -> str | None:
        """Where a key (or its closest given parent) was set."""
        key = key.replace("[", ".").replace("]", "")
        parts = key.split(".")
        for end in range(len(parts), 0, -1):
            found = self.origins.get(".".join(parts[:end]))
            if found is not None:
                return found
        return None


def read_sources(args: list[str]) -> Sources:
    """Merges the ``--config`` files and ``--key value`` arguments given after the subcommand."""
    sources = Sources()
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("--"):
            if arg.startswith("-c") and arg != "-c":  # -c=FILE and -cFILE read a config file too
                arg = "--config=" + arg[2:].removeprefix("=")
            elif arg.startswith("-") and arg != "-c":
                continue
            elif arg == "-c":
                arg = "--config"
            else:
                sources.problems.append(
                    Problem(
                        repr(arg),
                        "an option such as --config FILE or --key value",
                        "a bare argument",
                        f"Write --config {arg} to read a config file."
                        if arg.endswith((".yaml", ".yml", ".json"))
                        else "Start every key with --, e.g. --trainer.max_epochs 5.",
                        COMMAND_LINE,
                    )
                )
                continue
        name, has_value, value = arg.partition("=")
        if name.endswith(".help") and not has_value and i < len(args) and not args[i].startswith("-"):
            i += 1  # --system.help lightcli.MLP: the class whose help to print
        if name in _NO_VALUE_OPTIONS or name.endswith(".help"):
            continue
        key = name[2:]
        if not has_value:
            if i >= len(args) or (args[i].startswith("--") and key != "config"):
                sources.problems.append(
                    Problem(key, f"a value after --{key}", "nothing", f"Write --{key} VALUE.", COMMAND_LINE)
                )
                continue
            value = args[i]
            i += 1
        if key.endswith("+"):
            sources.appended.append((key[:-1], _parse_value(value)))
            sources.skipped.add(key[:-1])
            sources.origins[key[:-1]] = COMMAND_LINE
            continue
        if key == "config":
            _merge_file(sources, value)
        else:
            _set(sources, key, _parse_value(value))
    if not sources.problems:
        resolved, problems = resolve_references(sources.tree, sources.origin)
        sources.shared = resolved is not sources.tree
        if sources.shared:
            sources.references = _references(sources.tree, "")
        sources.tree = resolved
        sources.problems += problems
    return sources


def _references(tree: Any, prefix: str) -> dict[str, str]:
    """Dotted key -> the value as written, for every value that holds a ``${...}`` reference."""
    found: dict[str, str] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            found.update(_references(value, f"{prefix}{key}."))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            found.update(_references(value, f"{prefix}{i}."))
    elif isinstance(tree, str) and "${" in tree:
        found[prefix.rstrip(".")] = tree
    return found


def shared_values(args: list[str]) -> list[str]:
    """Resolves the ``${dotted.key}`` references of a subcommand's arguments (those after its name) for jsonargparse.

    jsonargparse then reads each config file with its references resolved, and gets the command-line values
    resolved too: it type-checks, prints and saves the resolved values (:mod:`lightcli.config.references`).
    Returns the arguments to parse.

    Raises:
        ConfigError: A reference cannot be resolved (unknown key, cycle, a mapping inside a string).
    """
    sources = read_sources(args)
    if sources.problems:
        raise ConfigError(sources.problems)
    if not sources.shared:
        read_config_files_with(read_migrated)
        return args
    read_config_files_with(resolved_reader(sources.tree, read_migrated))
    return resolved_arguments(args, sources.tree)


def _merge_file(sources: Sources, path: str) -> None:
    content, lines, problem = load_marked(path)
    if problem is not None:
        sources.problems.append(problem)
        return
    sources.files.append(path)
    content = _migrated(content, lines, path, ())
    nested: dict[str, str] = {}
    content = _with_files(sources, content, "", Path(path).parent, nested)
    _merge(sources, sources.tree, content, "", _in_file(path, lines, ""))
    sources.origins.update(nested)


def _names_a_file(value: Any, folder: Path) -> bool:
    """Whether a value is the name of a YAML file in ``folder`` (or a path from it), which jsonargparse reads."""
    return isinstance(value, str) and value.endswith((".yaml", ".yml")) and (folder / value).is_file()


def _nested_file(
    sources: Sources, key: str, value: str, folder: Path, origins: dict[str, str]
) -> tuple[Any, Callable[[str], str]] | None:
    """The content of the YAML file a value at ``key`` names (its own nested files read too) and the origin of its
    keys, each key's origin added to ``origins``; None (a problem added) when the file cannot be read as a
    config. Read as safely and strictly as a ``--config`` file."""
    path = folder / value
    content, lines, problem = load_marked(str(path), key)
    if problem is not None:
        sources.problems.append(problem)
        return None
    content = _migrated(content, lines, str(path), tuple(key.split(".")))
    origin = _in_file(str(path), lines, f"{key}.")
    found: dict[str, str] = {}
    content = _with_files(sources, content, f"{key}.", path.parent, found)
    _mark(origins, key, content, origin)
    origins.update(found)
    return content, origin


def _with_files(sources: Sources, value: Any, prefix: str, folder: Path, origins: dict[str, str]) -> Any:
    """``value`` (read from a file in ``folder``) with each string naming a YAML file replaced by that file's
    content, as jsonargparse reads it; the origin of each key read from such a file added to ``origins``."""
    if isinstance(value, dict):
        return {k: _with_files(sources, v, f"{prefix}{k}.", folder, origins) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_files(sources, v, f"{prefix}{i}.", folder, origins) for i, v in enumerate(value)]
    if _names_a_file(value, folder):
        key = prefix.rstrip(".")
        found: dict[str, str] = {}
        nested = _nested_file(sources, key, value, folder, found)
        if nested is None or not _read_as_config(nested[0], _at(sources.tree, key)):
            return value  # unreadable (a problem added), or a string argument that names a file: kept as it is
        origins.update(found)
        return nested[0]
    return value


def _read_as_config(content: Any, old: Any) -> bool:
    """Whether a file named by a value is read as the config of its key: a class (``class_path``, ``init_args``), or
    a mapping where the files before gave a mapping. Any other file name is a string argument's value."""
    return isinstance(content, dict) and (bool({"class_path", "init_args"} & content.keys()) or isinstance(old, dict))


def _at(tree: Any, dotted: str) -> Any:
    """The value at a dotted key of a merged config tree (list items by index); None when there is none."""
    for part in dotted.split("."):
        if isinstance(tree, dict):
            tree = tree.get(part)
        elif isinstance(tree, list) and part.isdigit() and int(part) < len(tree):
            tree = tree[int(part)]
        else:
            return None
    return tree


def _migrated(content: Any, lines: dict[str, int], path: str, at: tuple[str, ...]) -> Any:
    """The content of a file with the declared migrations applied, each reported once; ``lines`` follow renamed keys."""
    content, changes = migrate(content, at)
    report(changes, path, lines, at)
    for change in changes:
        if change.path[-1] == "class_path":
            continue
        old = ".".join(str(p) for p in change.path[len(at) :])
        new = f"{old.rpartition('.')[0]}.{change.new.rpartition('.')[2]}".lstrip(".")
        for key in [k for k in lines if k == old or k.startswith(old + ".")]:
            lines[new + key[len(old) :]] = lines.pop(key)
    return content


def origin_file(origin: str) -> str:
    """The file of an origin written by :func:`_in_file` (``path:line`` or ``path``), without its line."""
    path, _, line = origin.rpartition(":")
    return path if path and line.isdigit() else origin


def _in_file(path: str, lines: dict[str, int], prefix: str) -> Callable[[str], str]:
    """The origin of a dotted key read from ``path`` at ``prefix``: ``path:line`` (``path`` when the line is unknown)."""

    def origin(dotted: str) -> str:
        line = lines.get(dotted[len(prefix) :])
        return f"{path}:{line}" if line else path

    return origin


def _merge(
    sources: Sources, into: dict[str, Any], new: dict[str, Any], prefix: str, origin: Callable[[str], str]
) -> None:
    for key, value in new.items():
        key = str(key)
        dotted = f"{prefix}{key}"
        old = into.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            if "class_path" in value and old.get("class_path") not in (None, value["class_path"]):
                into[key] = {}  # another class: the old init_args do not carry over
            _merge(sources, into[key], value, f"{dotted}.", origin)
        else:
            into[key] = value
        _mark(sources.origins, dotted, value, origin)


def _mark(origins: dict[str, str], dotted: str, value: Any, origin: Callable[[str], str]) -> None:
    origins[dotted] = origin(dotted)
    if isinstance(value, dict):
        for key, sub in value.items():
            _mark(origins, f"{dotted}.{key}", sub, origin)


def _set(sources: Sources, key: str, value: Any) -> None:
    parts = key.split(".")
    node = sources.tree
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            sources.origins[".".join(parts[: depth + 1])] = COMMAND_LINE
        if not isinstance(child, dict):
            child = node[part] = {} if child is None or not isinstance(child, str) else {"class_path": child}
        node = child
    last = parts[-1]
    old = node.get(last)
    origin: Callable[[str], str] = _on_command_line
    nested: dict[str, str] = {}
    if _names_a_file(value, Path()):
        read = _nested_file(sources, key, value, Path(), nested)
        if read is None:
            return
        value, origin = read
    if isinstance(old, dict) and isinstance(value, str) and "class_path" in old:
        if old["class_path"] != value:
            node[last] = {"class_path": value}
            sources.origins[key] = origin(key)
        sources.origins[f"{key}.class_path"] = origin(f"{key}.class_path")
        return
    if isinstance(old, dict) and isinstance(value, dict):
        _merge(sources, old, value, f"{key}.", origin)
    else:
        node[last] = value
        _mark(sources.origins, key, node[last], origin)
    sources.origins.update(nested)  # the keys of files named inside the file


def _on_command_line(dotted: str) -> str:
    return COMMAND_LINE


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text

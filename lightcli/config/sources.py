"""What the user gave: config files and command-line values merged into one tree, each key with its origin.

This mirrors how ``lightcli`` merges ``--config`` files and ``--key value`` overrides, so that an error
can name the key as the user wrote it and the file (or the command line) it came from. YAML is loaded
with ``yaml.safe_load``: no tag can construct a Python object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
import yaml.constructor

from lightcli.config.files import read_text
from lightcli.config.problems import ConfigError, Problem
from lightcli.config.references import resolve_references, resolved_arguments, resolved_reader
from lightcli.upstream.jsonargparse import read_config_files_with

__all__ = ["COMMAND_LINE", "Sources", "load_file", "read_sources", "shared_values"]

COMMAND_LINE = "the command line"
"""The origin of values given as ``--key value``."""

_NO_VALUE_OPTIONS = {"--help", "-h", "--print_config", "--run"}


@dataclass
class Sources:
    """The merged user config of one subcommand."""

    tree: dict[str, Any] = field(default_factory=dict)
    """Every key the user gave, nested as in YAML."""
    origins: dict[str, str] = field(default_factory=dict)
    """Dotted key -> where it was set (a file name or :data:`COMMAND_LINE`)."""
    problems: list[Problem] = field(default_factory=list)
    """Files that could not be read and arguments that could not be understood."""
    skipped: set[str] = field(default_factory=set)
    """Keys set in ways this module does not model (e.g. ``--trainer.callbacks+=``); not checked."""
    files: list[str] = field(default_factory=list)
    """The config files, in order."""
    shared: bool = False
    """Whether the config holds ``${dotted.key}`` references (resolved in :attr:`tree`, :mod:`lightcli.config.references`)."""

    def origin(self, key: str) -> str | None:
        """Where a key (or its closest given parent) was set."""
        key = key.replace("[", ".").replace("]", "")
        parts = key.split(".")
        for end in range(len(parts), 0, -1):
            found = self.origins.get(".".join(parts[:end]))
            if found is not None:
                return found
        return None


def load_file(path: str, key: str = "--config") -> tuple[Any, Problem | None]:
    """Reads a YAML file safely; returns ``(content, None)`` or ``(None, problem)``.

    The file is opened once per command, whoever asks (:mod:`lightcli.config.files`).
    """
    file = Path(path)
    if not file.is_file():
        what = "a directory" if file.is_dir() else "no such file"
        near = _similar_files(file)
        hint = f" Did you mean {near}?" if near else ""
        return None, Problem(
            key,
            "an existing YAML file",
            f"{path!r} ({what}, looked in {file.parent.resolve()})",
            f"Check the path.{hint}",
        )
    text = read_text(file, encoding="utf-8", errors="replace")
    try:
        content = yaml.safe_load(text)
    except yaml.constructor.ConstructorError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "an unknown position"
        tag = re.search(r"tag '([^']+)'", str(error))
        shown = tag.group(1).replace("tag:yaml.org,2002:", "!!") if tag else "a tag"
        return None, Problem(
            key,
            "plain YAML values",
            f"the tag {shown} in {path} at {where}",
            "lightcli loads YAML safely and never builds Python objects from tags: name classes with class_path.",
        )
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "an unknown position"
        problem = (error.problem or error.context or "invalid YAML").strip()
        return None, Problem(
            key,
            "valid YAML",
            f"a syntax error in {path} at {where}: {problem}",
            "Fix the YAML there (check indentation, brackets and quotes).",
        )
    except yaml.YAMLError as error:
        return None, Problem(key, "valid YAML", f"an error in {path}: {error}", "Fix the YAML.")
    if content is None:
        return None, Problem(
            key,
            "a YAML mapping of keys (trainer:, system:, ...)",
            f"an empty file {path}",
            "Write the config in it, or start from `lightcli fit --print_config > my.yaml`.",
        )
    if not isinstance(content, dict):
        return None, Problem(
            key,
            "a YAML mapping of keys (trainer:, system:, ...)",
            f"{_kind(content)} at the top of {path}",
            "Remove the leading '- ' (a list) and write `key: value` lines.",
        )
    return content, None


def read_sources(args: list[str]) -> Sources:
    """Merges the ``--config`` files and ``--key value`` arguments given after the subcommand."""
    sources = Sources()
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("--"):
            if arg.startswith("-") and arg not in ("-c",):
                continue
            if arg == "-c":
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
        sources.tree = resolved
        sources.problems += problems
    return sources


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
        read_config_files_with(read_text)
        return args
    read_config_files_with(resolved_reader(sources.tree))
    return resolved_arguments(args, sources.tree)


def _merge_file(sources: Sources, path: str) -> None:
    content, problem = load_file(path)
    if problem is not None:
        sources.problems.append(problem)
        return
    sources.files.append(path)
    _merge(sources, sources.tree, content, "", path)


def _merge(sources: Sources, into: dict[str, Any], new: dict[str, Any], prefix: str, origin: str) -> None:
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
        _mark(sources, dotted, value, origin)


def _mark(sources: Sources, dotted: str, value: Any, origin: str) -> None:
    sources.origins[dotted] = origin
    if isinstance(value, dict):
        for key, sub in value.items():
            _mark(sources, f"{dotted}.{key}", sub, origin)


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
    origin = COMMAND_LINE
    if isinstance(value, str) and value.endswith((".yaml", ".yml")) and Path(value).is_file():
        content, problem = load_file(value, key)
        if problem is not None:
            sources.problems.append(problem)
            return
        value, origin = content, value
    if isinstance(old, dict) and isinstance(value, str) and "class_path" in old:
        if old["class_path"] != value:
            node[last] = {"class_path": value}
            sources.origins[key] = origin
        sources.origins[f"{key}.class_path"] = origin
        return
    if isinstance(old, dict) and isinstance(value, dict):
        _merge(sources, old, value, f"{key}.", origin)
        return
    node[last] = value
    _mark(sources, key, node[last], origin)


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value!r}" if len(value) < 40 else "plain text"
    return f"the value {value!r}"


def _similar_files(file: Path) -> str:
    import difflib

    folder = file.parent if file.parent.is_dir() else None
    if folder is None:
        return ""
    names = [p.name for p in folder.iterdir() if p.suffix in (".yaml", ".yml", ".json")]
    close = difflib.get_close_matches(file.name, names, n=1, cutoff=0.6)
    return str(folder / close[0]) if close and str(folder) != "." else (close[0] if close else "")

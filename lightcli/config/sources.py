"""What the user gave: config files and command-line values merged into one tree, each key with its origin.

This mirrors how ``lightcli`` merges ``--config`` files and ``--key value`` overrides, so that an error
can name the key as the user wrote it and the file and line (or the command line) it came from. YAML is
loaded by :func:`load_marked`, the one loader that keeps lines: safely (no tag can construct a Python
object), from the nodes of ``yaml.compose`` so that each key keeps its line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
import yaml.constructor

from lightcli.config.files import read_bytes, read_text
from lightcli.config.migrations import migrate, read_migrated, report
from lightcli.config.problems import ConfigError, Problem
from lightcli.config.references import resolve_references, resolved_arguments, resolved_reader
from lightcli.upstream.jsonargparse import read_config_files_with

__all__ = [
    "COMMAND_LINE",
    "Sources",
    "load_file",
    "load_marked",
    "origin_file",
    "read_sources",
    "safe_yaml",
    "shared_values",
]

COMMAND_LINE = "the command line"
"""The origin of values given as ``--key value``."""

_NO_VALUE_OPTIONS = {"--help", "-h", "--print_config", "--run"}
_MOST_DEPTH = 100
"""Deepest nesting of a config file (a real config nests less than 20 levels; 20,000 would overflow the stack)."""
_MOST_NODES = 100_000
"""Most values a config file may expand to through its aliases (a "billion laughs" file expands to 10^9)."""


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys, absurd nesting and alias bombs, recording why in ``refused``."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.refused: tuple[str, str] | None = None  # (what was found, how to fix it)
        self._depth = 0
        self._aliases = False

    def _refuse(self, got: str, fix: str) -> None:
        self.refused = (got, fix)
        raise yaml.YAMLError(got)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases = True
        self._depth += 1
        if self._depth > _MOST_DEPTH:
            line = self.peek_event().start_mark.line + 1
            self._refuse(f"more than {_MOST_DEPTH} levels of nesting (line {line})", "Flatten the config.")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None and self._aliases and _expanded_size(node, {}) > _MOST_NODES:
            self._refuse(
                f"aliases that expand to more than {_MOST_NODES:,} values",
                "Write the values out, or use fewer nested aliases (*name).",
            )
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            first: dict[str, str] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                mark = key_node.start_mark
                line = f"line {mark.line + 1}" + (f", column {mark.column + 1}" if node.flow_style else "")
                if key_node.value in first:
                    self._refuse(
                        f"the key {key_node.value!r} on {first[key_node.value]} and again on {line}",
                        "Keep one of them (YAML would silently use the last).",
                    )
                first[key_node.value] = line
        return super().construct_mapping(node, deep)


def _expanded_size(node: Any, sizes: dict[int, int]) -> int:
    """How many values a YAML node stands for once every alias is expanded (each shared node counted once a use)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = 1  # a node that contains itself counts once
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    else:
        size = 1
    sizes[id(node)] = min(size, _MOST_NODES + 1)
    return sizes[id(node)]


def safe_yaml(text: str, lines: dict[str, int] | None = None) -> tuple[Any, tuple[str, str] | None]:
    """Loads YAML text safely; returns ``(content, None)``, or ``(None, (what was found, fix))`` for a file refused
    for duplicate keys, more than 100 levels of nesting or aliases expanding to more than 100,000 values.

    Args:
        text: The YAML text.
        lines: When given, filled with the line of each dotted key (from the composed nodes).

    Raises:
        yaml.YAMLError: The text is not valid YAML (or holds a tag that would build a Python object).
    """
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        if lines is not None:
            _node_lines(node, "", lines)
        return loader.construct_document(node), None
    except yaml.YAMLError:
        if loader.refused is not None:
            return None, loader.refused
        raise
    finally:
        loader.dispose()


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


def load_file(path: str, key: str = "--config") -> tuple[Any, Problem | None]:
    """Reads a YAML file safely; returns ``(content, None)`` or ``(None, problem)``.

    The file is opened once per command, whoever asks (:mod:`lightcli.config.files`).
    """
    content, _, problem = load_marked(path, key)
    return content, problem


def load_marked(path: str, key: str = "--config") -> tuple[Any, dict[str, int], Problem | None]:
    """Reads a YAML file safely with the line of each key: ``(content, lines, None)`` or ``(None, {}, problem)``.

    ``lines`` maps each dotted key of the file (``system.optimizer.init_args.lr``; list items by index,
    ``trainer.callbacks.0``) to its 1-based line.
    """
    file = Path(path)
    if not file.is_file():
        what = "a directory" if file.is_dir() else "no such file"
        near = _similar_files(file)
        hint = f" Did you mean {near}?" if near else ""
        return (
            None,
            {},
            Problem(
                key,
                "an existing YAML file",
                f"{path!r} ({what}, looked in {file.parent.resolve()})",
                f"Check the path.{hint}",
            ),
        )
    try:
        text = read_text(file, encoding="utf-8")
    except UnicodeDecodeError as error:
        raw = read_bytes(file)
        line = raw.count(b"\n", 0, error.start) + 1
        return (
            None,
            {},
            Problem(
                key,
                "a UTF-8 text file",
                f"the byte 0x{raw[error.start]:02x} on line {line} of {path}, which is not UTF-8",
                "Save the file as UTF-8.",
            ),
        )
    lines: dict[str, int] = {}
    try:
        content, refused = safe_yaml(text, lines)
    except yaml.constructor.ConstructorError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "an unknown position"
        tag = re.search(r"tag '([^']+)'", str(error))
        shown = tag.group(1).replace("tag:yaml.org,2002:", "!!") if tag else "a tag"
        return (
            None,
            {},
            Problem(
                key,
                "plain YAML values",
                f"the tag {shown} in {path} at {where}",
                "lightcli loads YAML safely and never builds Python objects from tags: name classes with class_path.",
            ),
        )
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "an unknown position"
        problem = (error.problem or error.context or "invalid YAML").strip()
        return (
            None,
            {},
            Problem(
                key,
                "valid YAML",
                f"a syntax error in {path} at {where}: {problem}",
                "Fix the YAML there (check indentation, brackets and quotes).",
            ),
        )
    except yaml.YAMLError as error:
        return None, {}, Problem(key, "valid YAML", f"an error in {path}: {error}", "Fix the YAML.")
    if refused is not None:
        return None, {}, Problem(key, "a config file lightcli can read", f"{refused[0]} in {path}", refused[1])
    if content is None:
        return (
            None,
            {},
            Problem(
                key,
                "a YAML mapping of keys (trainer:, system:, ...)",
                f"an empty file {path}",
                "Write the config in it, or start from `lightcli fit --print_config > my.yaml`.",
            ),
        )
    if not isinstance(content, dict):
        return (
            None,
            {},
            Problem(
                key,
                "a YAML mapping of keys (trainer:, system:, ...)",
                f"{_kind(content)} at the top of {path}",
                "Remove the leading '- ' (a list) and write `key: value` lines.",
            ),
        )
    return content, lines, None


def _node_lines(node: yaml.Node, prefix: str, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            dotted = f"{prefix}{key_node.value}"
            lines.setdefault(dotted, key_node.start_mark.line + 1)  # a duplicate key keeps its first line
            _node_lines(value_node, f"{dotted}.", lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            dotted = f"{prefix}{index}"
            lines[dotted] = item.start_mark.line + 1
            _node_lines(item, f"{dotted}.", lines)


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
    _merge(sources, sources.tree, content, "", _in_file(path, lines, ""))


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
        _mark(sources, dotted, value, origin)


def _mark(sources: Sources, dotted: str, value: Any, origin: Callable[[str], str]) -> None:
    sources.origins[dotted] = origin(dotted)
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
    origin: Callable[[str], str] = _on_command_line
    if isinstance(value, str) and value.endswith((".yaml", ".yml")) and Path(value).is_file():
        content, lines, problem = load_marked(value, key)
        if problem is not None:
            sources.problems.append(problem)
            return
        content = _migrated(content, lines, value, tuple(parts))
        value, origin = content, _in_file(value, lines, f"{key}.")
    if isinstance(old, dict) and isinstance(value, str) and "class_path" in old:
        if old["class_path"] != value:
            node[last] = {"class_path": value}
            sources.origins[key] = origin(key)
        sources.origins[f"{key}.class_path"] = origin(f"{key}.class_path")
        return
    if isinstance(old, dict) and isinstance(value, dict):
        _merge(sources, old, value, f"{key}.", origin)
        return
    node[last] = value
    _mark(sources, key, node[last], origin)


def _on_command_line(dotted: str) -> str:
    return COMMAND_LINE


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

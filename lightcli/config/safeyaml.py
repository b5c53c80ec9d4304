"""The YAML config files a user gives, read safely and strictly, with the line of each key.

A config file may come from anyone, so reading it must neither run code nor exhaust memory or the stack:
YAML is composed with ``yaml.SafeLoader`` (no tag can construct a Python object), and a file with duplicate
keys, more than 100 levels of nesting or aliases expanding to more than 100,000 values is refused. The
values are constructed from the nodes of ``yaml.compose``, so that each key keeps its line. A file that
cannot be read as a config (missing, not UTF-8, invalid YAML, not a mapping) comes back as one
:class:`~lightcli.config.problems.Problem` naming where and how to fix it.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import yaml
import yaml.constructor

from lightcli.config.files import read_bytes, read_text
from lightcli.config.problems import Problem

__all__ = ["load_file", "load_marked", "refusal", "safe_yaml"]

_MOST_DEPTH = 100
"""Deepest nesting of a config file (a real config nests less than 20 levels; 20,000 would overflow the stack)."""
_MOST_NODES = 100_000
"""Most values a config file may expand to through its aliases (a "billion laughs" file expands to 10^9)."""


_accepted: set[bytes] = set()
"""Digests of the texts the strict loader accepted in this process (a verdict depends on the text alone)."""


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
        content = loader.construct_document(node)
        _accepted.add(hashlib.sha256(text.encode()).digest())
        return content, None
    except yaml.YAMLError:
        if loader.refused is not None:
            return None, loader.refused
        raise
    finally:
        loader.dispose()


def refusal(text: str, path: str, key: str = "") -> Problem | None:
    """Why the strict loader refuses the YAML text of the file at ``path``, as a problem at ``key``; None when it
    accepts it.

    For every file jsonargparse reads itself (one named inside a config: ``model: model.yaml``): a text already
    read by :func:`safe_yaml` is not read again. Text that is not valid YAML is not refused here: the parser
    that reads it says what is wrong.
    """
    if hashlib.sha256(text.encode()).digest() in _accepted:
        return None
    try:
        refused = safe_yaml(text)[1]
    except yaml.YAMLError:
        return None
    return None if refused is None else _refused(key, path, refused)


def _refused(key: str, path: str, refused: tuple[str, str]) -> Problem:
    """The problem of a file the strict loader refused (``refused``: what was found, how to fix it)."""
    return Problem(key, "a config file lightcli can read", f"{refused[0]} in {path}", refused[1])


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
        return None, {}, _refused(key, path, refused)
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

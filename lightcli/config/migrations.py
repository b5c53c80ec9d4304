"""Declared migrations: configs written before a class moved or an argument was renamed keep working.

A migration is declared once, by whoever made the change:

- lightcli's own, in :data:`LIGHTCLI` (the modules that moved into ``lightcli.core`` when the package was layered);
- a user's, in a file ``lightcli_migrations.py`` in the working folder, which lightcli imports before it reads any
  config (so the old class path need not be importable any more)::

      from lightcli.config.migrations import moved, renamed

      moved("mylib.old_models.Net", "mylib.models.Net")  # a class, or a whole module: moved("mylib.old", "mylib.new")
      renamed("mylib.models.Net", "width", "hidden")  # an argument of a class

Every config lightcli loads is migrated: ``--config`` files and values files, a run folder's ``config.yaml``, and
the system config stored in a ``--ckpt_path`` checkpoint. Each applied change is reported once, on one stderr
line: ``migrated: system.model.class_path mylib.old_models.Net -> mylib.models.Net (old.yaml:4, declared in
lightcli_migrations.py:3)``. ``lightcli migrate old.yaml > new.yaml`` writes the upgraded file.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lightcli.config.allowlist import refused
from lightcli.config.files import read_text
from lightcli.config.problems import ConfigError, Problem, raised
from lightcli.config.safeyaml import refusal

__all__ = [
    "DECLARATIONS",
    "LIGHTCLI",
    "Change",
    "Moved",
    "Renamed",
    "forget",
    "migrate",
    "moved",
    "read_migrated",
    "renamed",
    "report",
    "rewrite",
]

DECLARATIONS = "lightcli_migrations.py"
"""The file of a project's migrations, imported from the working folder before any config is read."""


@dataclass(frozen=True)
class Moved:
    """A class (or a whole module) that moved: ``class_path: <old>`` is read as ``class_path: <new>``."""

    old: str
    """The old class path, or the old module (every class path under it moves)."""
    new: str
    """The new class path, or the new module."""
    declared_in: str = "lightcli"
    """Who declared it (``lightcli``, or the file and line of the declaration)."""

    def apply(self, path: str) -> str | None:
        """The new class path of ``path``, or None when this move does not concern it."""
        if path == self.old:
            return self.new
        if path.startswith(self.old + "."):
            return self.new + path[len(self.old) :]
        return None


@dataclass(frozen=True)
class Renamed:
    """An argument of a class that was renamed: ``<old>:`` in its ``init_args`` is read as ``<new>:``."""

    class_path: str
    """The class whose argument it is (its current class path)."""
    old: str
    """The old argument name."""
    new: str
    """The new argument name."""
    declared_in: str = "lightcli"
    """Who declared it (``lightcli``, or the file and line of the declaration)."""


Migration = Moved | Renamed

_RUN_CALLBACKS = ("GracefulStop", "RandomState", "ResumeOverrides")

LIGHTCLI: tuple[Migration, ...] = (
    *(
        Moved(f"lightcli.{module}", f"lightcli.core.{module}")
        for module in ("adapters", "data", "freezer", "models", "optim", "system", "weights", "writers")
    ),
    *(Moved(f"lightcli.cli.{name}", f"lightcli.run.checkpoints.{name}") for name in _RUN_CALLBACKS),
    Moved("lightcli.cli.ModelCheckpoint", "pytorch_lightning.callbacks.ModelCheckpoint"),
)
"""lightcli's own migrations: the modules that moved into ``lightcli.core`` (configs naming ``lightcli.models.MLP``),
and the callbacks the schema and completion once listed under ``lightcli.cli`` (which only imported them)."""

_DECLARED: list[Migration] = []  # the user's, by moved() and renamed() outside a declarations file
_BY_FILE: dict[str, list[Migration]] = {}  # those of each declarations file imported by this process
_WORKING_FOLDER: list[Path] = []  # the working folder of this command (jsonargparse reads a file from its folder)
_LOADING: list[list[Migration]] = []  # where moved() and renamed() declare while a declarations file is imported
_REPORTED: set[tuple[str, str, str]] = set()  # the changes already reported by this command


def _declared_at() -> str:
    """``file.py:line`` of the user code that called :func:`moved` or :func:`renamed`."""
    frame = sys._getframe(2)
    return f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"


def moved(old: str, new: str) -> None:
    """Declares that a class (or a module) moved: configs naming ``old`` get ``new``.

    Args:
        old: The old class path (``mylib.old_models.Net``), or the old module (``mylib.old_models``).
        new: The new class path, or the new module.
    """
    (_LOADING[-1] if _LOADING else _DECLARED).append(Moved(old, new, _declared_at()))


def renamed(class_path: str, old: str, new: str) -> None:
    """Declares that an argument of a class was renamed: configs giving ``old`` to that class give ``new``.

    Args:
        class_path: The class (its current class path, as configs name it).
        old: The old argument name.
        new: The new argument name.
    """
    (_LOADING[-1] if _LOADING else _DECLARED).append(Renamed(class_path, old, new, _declared_at()))


def _declarations() -> tuple[Migration, ...]:
    """lightcli's migrations and the user's, after importing ``lightcli_migrations.py`` of the working folder once.

    Raises:
        ConfigError: The file is refused by the allowlist, or raises when imported.
    """
    if not _WORKING_FOLDER:
        _WORKING_FOLDER.append(Path.cwd())
    file = _WORKING_FOLDER[0] / DECLARATIONS
    if str(file) not in _BY_FILE and file.is_file():
        blocked = refused(DECLARATIONS)  # an allowlist must name lightcli_migrations to run it
        if blocked is not None:
            raise ConfigError(Problem(DECLARATIONS, *blocked))
        _BY_FILE[str(file)] = []
        _LOADING.append(_BY_FILE[str(file)])
        try:
            _import(file)
        except ConfigError:
            del _BY_FILE[str(file)]  # the next command says it again
            raise
        finally:
            _LOADING.pop()
    return (*LIGHTCLI, *_BY_FILE.get(str(file), ()), *_DECLARED)


def _import(file: Path) -> None:
    spec = importlib.util.spec_from_file_location(file.stem, file)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        line = getattr(error, "lineno", None) if isinstance(error, SyntaxError) else None
        frames = [f.lineno for f in traceback.extract_tb(error.__traceback__) if Path(f.filename) == file]
        line = line or (frames[-1] if frames else None)
        where = f"{DECLARATIONS}:{line}" if line else DECLARATIONS
        raise ConfigError(
            Problem(where, "a file that declares migrations", raised(error), "Fix that line of the file.")
        ) from error


@dataclass(frozen=True)
class Change:
    """One applied migration."""

    path: tuple[str | int, ...]
    """Where, by the keys of the config as it was written (list items by index)."""
    key: str
    """Where, as a key of the migrated config (``system.model.class_path``)."""
    old: str
    """The old class path or argument key."""
    new: str
    """The new class path or argument key."""
    declared_in: str
    """Who declared it."""


_DEFAULT_CLASSES: dict[tuple[str, ...], str] = {
    ("system",): "lightcli.System"
}  # a section without a class_path, and its class


def _same_class(given: str, declared: str) -> bool:
    """Whether a class path names the declared class (lightcli's classes by their public or module path)."""
    public = re.compile(r"^lightcli\.core\.\w+\.")
    return given == declared or public.sub("lightcli.", given) == public.sub("lightcli.", declared)


def migrate(tree: Any, at: tuple[str, ...] = ()) -> tuple[Any, list[Change]]:
    """A config with every declared migration applied (a copy: ``tree`` is unchanged), and the changes made.

    Args:
        tree: A config as loaded from YAML.
        at: Where the config sits (``("system",)`` for a checkpoint's stored system config).
    """
    rules = _declarations()
    changes: list[Change] = []
    if not _may_apply(repr(tree), rules):
        return tree, changes
    tree = copy.deepcopy(tree)
    _walk(tree, at, at, rules, changes)
    return tree, changes


def _may_apply(text: str, rules: tuple[Migration, ...]) -> bool:
    """Whether any rule may concern a config (a search of its text: most configs need no walk)."""
    return any(rule.old in text for rule in rules)


def _walk(
    node: Any, path: tuple[str | int, ...], key: tuple[str | int, ...], rules: tuple[Migration, ...], out: list[Change]
) -> None:
    if isinstance(node, list):
        for index, item in enumerate(node):
            _walk(item, (*path, index), (*key, index), rules, out)
        return
    if not isinstance(node, dict):
        return
    given = node.get("class_path")
    cls = given if isinstance(given, str) else _DEFAULT_CLASSES.get(tuple(str(k) for k in key))
    if isinstance(given, str):
        for rule in rules:
            new = rule.apply(given) if isinstance(rule, Moved) else None
            if new is not None:
                node["class_path"] = cls = new
                out.append(Change((*path, "class_path"), _dotted((*key, "class_path")), given, new, rule.declared_in))
                break
    renames: dict[str, str] = {}  # new name -> old name, for the path of what lies below
    if cls is not None:
        nested = isinstance(node.get("init_args"), dict)
        args = node["init_args"] if nested else node
        base = ("init_args",) if nested else ()
        for rule in rules:
            if isinstance(rule, Renamed) and _same_class(cls, rule.class_path) and rule.old in args:
                if rule.new in args:
                    continue  # both given: the new one wins, as the parser would see it
                items = list(args.items())
                args.clear()
                args.update((rule.new if k == rule.old else k, v) for k, v in items)  # keeps the order
                renames[rule.new] = rule.old
                old_key, new_key = _dotted((*key, *base, rule.old)), _dotted((*key, *base, rule.new))
                out.append(Change((*path, *base, rule.old), new_key, old_key, new_key, rule.declared_in))
    for name, value in node.items():
        if name == "init_args" and isinstance(value, dict):
            for arg, sub in value.items():
                _walk(sub, (*path, name, str(renames.get(arg, arg))), (*key, name, arg), rules, out)
        else:
            _walk(value, (*path, str(renames.get(name, name))), (*key, name), rules, out)


def _dotted(parts: tuple[str | int, ...]) -> str:
    """A key as the user types it: ``system.model.class_path`` (not ``system.init_args.model``), ``callbacks[0]``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return re.sub(r"^(system|data)\.init_args\.", r"\1.", text)


def report(
    changes: list[Change], where: str | None = None, lines: dict[str, int] | None = None, at: tuple[str, ...] = ()
) -> None:
    """Prints each change on one stderr line, once per command: ``migrated: <key> <old> -> <new> (<where>, declared in ...)``.

    Args:
        changes: From :func:`migrate`.
        where: The file (or ``checkpoint <path>``) the changes were made in.
        lines: The line of each dotted key of the file (:func:`lightcli.config.safeyaml.load_marked`): ``where``
            then names the line of each change.
        at: Where the file's content sits in the config (given to :func:`migrate`).
    """
    for change in changes:
        seen = (change.key, change.old, change.new)
        if seen in _REPORTED:
            continue
        _REPORTED.add(seen)
        said = (
            f"{change.key} {change.old} -> {change.new}"
            if change.key.endswith("class_path")
            else (f"{change.old} -> {change.new}")
        )
        line = (lines or {}).get(".".join(str(p) for p in change.path[len(at) :]))
        place = f"{where}:{line}, " if where and line else (f"{where}, " if where else "")
        print(f"migrated: {said} ({place}declared in {change.declared_in})", file=sys.stderr)


def read_migrated(path: str | os.PathLike[str]) -> str:
    """The text of a config file with the declared migrations applied (the file itself as it is when none apply).

    Used as jsonargparse's reader of config files (:func:`lightcli.upstream.jsonargparse.read_config_files_with`).
    """
    text = read_text(path)
    refused = refusal(text, os.fspath(path))
    if refused is not None:
        raise ConfigError(refused)
    if not _may_apply(text, _declarations()):
        return text
    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # the parser reports it
    changes = migrate(content)[1]
    if not changes:
        return text
    report(changes, os.fspath(path))
    return rewrite(text, changes)


def rewrite(text: str, changes: list[Change]) -> str:
    """The YAML text with the changes made in place: comments, order, quotes and layout are kept.

    Args:
        text: The text the changes were found in (:func:`migrate` of its content).
        changes: From :func:`migrate`.
    """
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    edits = []
    for change in changes:
        parent, last = _node_at(root, change.path[:-1]), change.path[-1]
        if not isinstance(parent, yaml.MappingNode):
            continue
        for key_node, value_node in parent.value:
            if key_node.value == last:
                moved = last == "class_path"
                node = value_node if moved else key_node
                new = change.new if moved else change.new.rpartition(".")[2]
                quote = node.style if node.style in ("'", '"') else ""
                edits.append((node.start_mark.index, node.end_mark.index, f"{quote}{new}{quote}"))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _node_at(node: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        elif isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(part)), None)
        else:
            return None
    return node


def forget() -> None:
    """Starts a new command (in the working folder): its changes are reported again."""
    _REPORTED.clear()
    _WORKING_FOLDER.clear()

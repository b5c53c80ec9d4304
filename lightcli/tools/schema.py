"""``lightcli schema``: a JSON Schema of a lightcli config, for YAML editors and for validation.

The schema is built from the same parser as ``lightcli fit`` (its keys and types), and for every argument
typed with a class (a model, an optimizer, a metric...) it lists the accepted classes with their
``init_args``. The classes are those a user can name: ``torch.nn``, ``torch.optim``, ``torch.utils.data``,
torchmetrics, Lightning's callbacks, loggers, profilers, strategies and plugins, lightcli, and the
project's own modules (the importable modules in the working directory).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import enum
import importlib
import inspect
import json
import os
import pathlib
import sys
import types
from collections import abc
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from lightcli.tools.classes import (
    LIBRARY_MODULES,
    STAGES,
    build_subcommand_parser,
    collect_classes,
    lightcli_modules,
    project_modules,
)
from lightcli.upstream.jsonargparse import action_typehint, has_typehint, parser_actions, signature_parameters

__all__ = ["build_schema", "main"]

# -- types to JSON Schema ------------------------------------------------------------------------------

_SIMPLE: dict[Any, dict[str, Any]] = {
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    str: {"type": "string"},
    bytes: {"type": "string"},
    type(None): {"type": "null"},
    pathlib.Path: {"type": "string"},
    os.PathLike: {"type": "string"},
    datetime.timedelta: {"type": "string"},
}
_SEQUENCES = (list, set, frozenset, abc.Sequence, abc.MutableSequence, abc.Iterable, abc.Collection, abc.Set)
_MAPPINGS = (dict, abc.Mapping, abc.MutableMapping)


def _json_value(value: Any) -> Any:
    """The value as plain JSON data, or a sentinel when it has no JSON form."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (list, tuple)):
        items = [_json_value(v) for v in value]
        return _NO_JSON if _NO_JSON in items else items
    return _NO_JSON


_NO_JSON = object()


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n\n")[0].replace("\n", " ").strip()


@dataclasses.dataclass
class _Param:
    name: str
    annotation: Any
    default: Any
    kind: Any
    doc: str | None


def _param_docs(cls: type) -> dict[str, str]:
    try:
        import docstring_parser
    except ImportError:  # pragma: no cover - installed with jsonargparse[signatures]
        return {}
    docs: dict[str, str] = {}
    for doc in (cls.__doc__, getattr(vars(cls).get("__init__"), "__doc__", None)):
        if not doc:
            continue
        try:
            parsed = docstring_parser.parse(doc)
        except Exception:
            continue
        for param in parsed.params:
            if param.description:
                docs.setdefault(param.arg_name, param.description)
    return docs


def _plain_signature(cls: type) -> list[Any] | None:
    """The parameters of a class with a plain ``__init__`` (no ``*args``/``**kwargs``, no ``__new__``).

    Reading them directly gives what jsonargparse's resolver gives, much faster. Returns None for
    other classes (their ``**kwargs`` are followed by the resolver, as the parser does).
    """
    init = getattr(cls, "__init__")  # noqa: B009 - the class attribute, for mypy
    if dataclasses.is_dataclass(cls) or not inspect.isfunction(init) or cls.__new__ is not object.__new__:
        return None
    try:
        signature = inspect.signature(init, eval_str=True)
    except Exception:
        return None
    params = list(signature.parameters.values())[1:]
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return None
    docs = _param_docs(cls)
    return [_Param(p.name, p.annotation, p.default, p.kind, docs.get(p.name)) for p in params]


def _is_torch_internal(tp: Any) -> bool:
    """Tensors, devices, dtypes and the like: values a config cannot hold."""
    module = getattr(tp, "__module__", "") or ""
    return inspect.isclass(tp) and (module == "torch" or module.startswith("torch._"))


def _has_call(cls: type) -> bool:
    return any("__call__" in vars(k) for k in cls.__mro__ if k is not object)


class _Builder:
    """Turns type hints into JSON Schema, with one shared definition per class and per class family."""

    def __init__(self, classes: dict[type, list[str]]) -> None:
        self.classes = classes
        self.definitions: dict[str, Any] = {}

    def ref(self, key: str) -> dict[str, Any]:
        return {"$ref": f"#/definitions/{key}"}

    def type_schema(self, tp: Any) -> dict[str, Any]:
        if tp is Any or tp is object or tp is inspect.Parameter.empty or isinstance(tp, (str, type(Ellipsis))):
            return {}
        if tp in _SIMPLE:
            return dict(_SIMPLE[tp])
        origin, args = get_origin(tp), get_args(tp)
        if origin is Union or origin is types.UnionType:
            settable = [a for a in args if not _is_torch_internal(a)] or list(args)
            return {"anyOf": [self.type_schema(a) for a in settable]}
        if origin is Literal:
            return {"enum": [_json_value(a) for a in args]}
        if origin is not None and getattr(origin, "__name__", "") == "Annotated":  # pragma: no cover
            return self.type_schema(args[0])
        if origin is abc.Callable:
            return self.callable_schema(args)
        if origin is tuple or tp is tuple:
            if not args or (len(args) == 2 and args[1] is Ellipsis):
                return {"type": "array", "items": self.type_schema(args[0]) if args else {}}
            items = [self.type_schema(a) for a in args]
            return {"type": "array", "items": items, "minItems": len(items), "maxItems": len(items)}
        if origin in _SEQUENCES or tp in _SEQUENCES:
            return {"type": "array", "items": self.type_schema(args[0]) if args else {}}
        if origin in _MAPPINGS or tp in _MAPPINGS:
            return {"type": "object", "additionalProperties": self.type_schema(args[1]) if len(args) == 2 else {}}
        if origin is type or tp is type:
            return {"type": "string"}
        if inspect.isclass(tp):
            if issubclass(tp, enum.Enum):
                return {"enum": [m.name for m in tp]}
            if issubclass(tp, (str, os.PathLike)):
                return {"type": "string"}
            if dataclasses.is_dataclass(tp):
                return self.dataclass_schema(tp)
            if _is_torch_internal(tp) or tp.__module__ == "builtins":
                return {}  # tensors, devices, dtypes...: not expressible in a config schema
            return self.class_spec((tp,), skip=0)
        return {}

    def callable_schema(self, args: tuple[Any, ...]) -> dict[str, Any]:
        """A callable: an import path (a function) or a class_path whose instance (or partial) is called."""
        params, returns = (args[0], args[1]) if len(args) == 2 else (Ellipsis, Any)
        skip = len(params) if isinstance(params, list) else 0
        returned = get_args(returns) if get_origin(returns) in (Union, types.UnionType) else (returns,)
        bases = tuple(r for r in returned if inspect.isclass(r) and r not in (object, Any))
        path = {"type": "string", "description": "The import path of a function or class."}
        if bases:
            return {"anyOf": [path, self.class_spec(bases, skip=skip)]}
        return {"anyOf": [path, self.class_spec((object,), skip=0)]}

    def signature(self, cls: type) -> tuple[list[Any], bool]:
        """The parameters jsonargparse accepts for a class, and whether they are known exactly.

        A plain ``__init__`` (no ``*args``/``**kwargs``) is read directly, which is fast; otherwise
        jsonargparse's resolver follows ``**kwargs`` into the parent classes, as the parser does.
        """
        fast = _plain_signature(cls)
        if fast is not None:
            return fast, True
        try:
            return signature_parameters(cls), True
        except Exception:
            return [], False

    def params_schema(self, cls: type, skip: int) -> dict[str, Any]:
        params, exact = self.signature(cls)
        properties: dict[str, Any] = {}
        for param in params:
            if skip and param.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
                skip -= 1
                continue
            if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                continue
            prop = self.type_schema(param.annotation)
            if param.doc:
                prop = {**prop, "description": param.doc.strip()}
            default = _json_value(param.default) if param.default is not inspect.Parameter.empty else _NO_JSON
            if default is not _NO_JSON:
                prop = {**prop, "default": default}
            properties[param.name] = prop
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": not exact}
        description = _first_line(cls.__doc__)
        if description:
            schema["description"] = description
        return schema

    def class_args(self, cls: type, skip: int) -> dict[str, Any]:
        key = f"args:{self.classes.get(cls, [cls.__qualname__])[0]}" + (f":skip{skip}" if skip else "")
        if key not in self.definitions:
            self.definitions[key] = {}  # placeholder: a class may refer to itself
            self.definitions[key] = self.params_schema(cls, skip)
        return self.ref(key)

    def dataclass_schema(self, cls: type) -> dict[str, Any]:
        key = f"dataclass:{cls.__module__}.{cls.__qualname__}"
        if key not in self.definitions:
            self.definitions[key] = {}
            self.definitions[key] = self.params_schema(cls, 0)
        return self.ref(key)

    def candidates(self, bases: tuple[type, ...]) -> list[type]:
        found = []
        for cls in self.classes:
            if inspect.isabstract(cls) or dataclasses.is_dataclass(cls):
                continue
            if bases == (object,):
                if _has_call(cls) and not issubclass(cls, BaseException):
                    found.append(cls)
            elif any(issubclass(cls, b) for b in bases):
                found.append(cls)
        return sorted(found, key=lambda c: self.classes[c][0])

    def class_spec(self, bases: tuple[type, ...], skip: int, default: type | None = None) -> dict[str, Any]:
        """``class_path`` (one of the accepted classes) with the ``init_args`` of that class."""
        names = ",".join(f"{b.__module__}.{b.__qualname__}" for b in bases)
        key = (
            f"classes:{names}"
            + (f":skip{skip}" if skip else "")
            + (f":default:{default.__qualname__}" if default else "")
        )
        if key in self.definitions:
            return self.ref(key)
        self.definitions[key] = {}
        found = self.candidates(bases)
        short: dict[str, int] = {}
        for cls in found:
            short[cls.__name__] = short.get(cls.__name__, 0) + 1
        conditions: list[dict[str, Any]] = []
        all_names: list[str] = []
        for cls in found:
            aliases = list(self.classes[cls]) + ([cls.__name__] if short[cls.__name__] == 1 else [])
            all_names += aliases
            conditions.append(
                {
                    "if": {"properties": {"class_path": {"enum": aliases}}, "required": ["class_path"]},
                    "then": {"properties": {"init_args": self.class_args(cls, skip)}},
                }
            )
        what = " or ".join(b.__name__ for b in bases)
        class_path: dict[str, Any] = {"type": "string", "description": f"The class: a {what}."}
        if found:
            class_path["enum"] = all_names
        properties: dict[str, Any] = {
            "class_path": class_path,
            "init_args": {"type": "object", "description": "The arguments of the class."},
            "dict_kwargs": {"type": "object", "description": "Extra keyword arguments (for **kwargs)."},
        }
        if default is not None:
            flat = self.definitions[self.class_args(default, skip)["$ref"].rsplit("/", 1)[1]]
            properties = {**flat.get("properties", {}), **properties}
        spec: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        if conditions:
            spec["allOf"] = conditions
        shorthand = {"type": "string", **({"enum": all_names} if found else {})}
        self.definitions[key] = {"anyOf": [spec, shorthand]}
        return self.ref(key)


# -- the whole config --------------------------------------------------------------------------------


def _default_class(default: Any) -> type | None:
    """The class named by an action's default (e.g. ``system`` defaults to lightcli.System)."""
    class_path = None
    if isinstance(default, dict) or hasattr(default, "get"):
        class_path = default.get("class_path")
    if not isinstance(class_path, str):
        return None
    module, _, name = class_path.rpartition(".")
    try:
        value = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None
    return value if inspect.isclass(value) else None


def _action_schema(builder: _Builder, action: Any) -> dict[str, Any]:
    typehint = action_typehint(action)
    default_cls = _default_class(action.default)
    schema: dict[str, Any]
    if default_cls is not None:
        members = get_args(typehint) if get_origin(typehint) in (Union, types.UnionType) else (typehint,)
        bases = tuple(m for m in members if inspect.isclass(m) and m is not type(None))
        schema = {"anyOf": [builder.class_spec(bases, 0, default=default_cls), {"type": "null"}]}
    else:
        schema = builder.type_schema(typehint)
    if action.help and action.help != argparse.SUPPRESS:
        schema = {**schema, "description": str(action.help).strip()}
    return schema


def build_schema(subcommand: str = "fit", modules: list[str] | None = None) -> dict[str, Any]:
    """Builds the JSON Schema (draft-07) of a config file for ``lightcli <subcommand> --config``.

    Args:
        subcommand: One of fit, validate, test, predict.
        modules: The project modules whose classes are accepted besides the libraries' (when None: the
            importable modules of the working directory and those loaded with ``--project``).
    """
    parser = build_subcommand_parser(subcommand)
    if modules is None:
        loaded = sorted(m for m in sys.modules if m == "project" or m.startswith("project."))  # --project
        modules = [*project_modules(Path.cwd()), *loaded]
    classes, problems = collect_classes([*LIBRARY_MODULES, *lightcli_modules()], modules)
    builder = _Builder(classes)
    root: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
    for action in parser_actions(parser):
        if not has_typehint(action) or "Help" in type(action).__name__:
            continue
        node = root
        *groups, name = action.dest.split(".")
        for group in groups:
            node = node["properties"].setdefault(
                group, {"type": "object", "properties": {}, "additionalProperties": False}
            )
        node["properties"][name] = _action_schema(builder, action)
    root["properties"]["config"] = {"description": "Config files given inside a config (merged in order)."}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": f"lightcli-{subcommand}.schema.json",
        "title": f"lightcli {subcommand} config",
        "description": f"A config for `lightcli {subcommand} --config <file>`. Generated by `lightcli schema`.",
        **root,
        "definitions": builder.definitions,
        **({"x-lightcli-skipped": problems} if problems else {}),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lightcli schema",
        description="Write the JSON Schema of lightcli configs (for YAML editors and validation).",
        allow_abbrev=False,
    )
    parser.add_argument("subcommand", nargs="?", default="fit", choices=STAGES, help="whose config (fit)")
    parser.add_argument("-o", "--output", help="write to this file instead of stdout")
    parser.add_argument(
        "--module",
        action="append",
        dest="modules",
        metavar="NAME",
        help="a project module whose classes are accepted (repeatable; default: the modules in the working directory)",
    )
    return parser


def main(args: list[str]) -> int:
    """Runs ``lightcli schema`` with its arguments and returns the exit code."""
    try:
        options = _parser().parse_args(args)
    except SystemExit as exit:  # --help, or a usage error argparse has printed
        return exit.code if isinstance(exit.code, int) else 0
    output = Path(options.output) if options.output else None
    if output is not None and not output.parent.is_dir():
        print(
            f"--output: expected a file in an existing directory, got {options.output!r}. "
            f"Create {str(output.parent)!r} first.",
            file=sys.stderr,
        )
        return 2
    schema = build_schema(options.subcommand, options.modules)
    text = json.dumps(schema, indent=1, sort_keys=False) + "\n"
    for problem in schema.get("x-lightcli-skipped", []):  # a project module that does not import
        print(f"lightcli schema: skipped {problem}", file=sys.stderr)
    if output is None:
        sys.stdout.write(text)
        return 0
    partial = output.with_name(output.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(output)
    count = sum(1 for key in schema["definitions"] if key.startswith("args:"))
    print(f"wrote {output} ({count} classes)")
    return 0

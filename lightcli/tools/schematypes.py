"""Type hints to JSON Schema: one shared definition per class and per family of classes, for ``lightcli schema``.

The hints are taken apart by :mod:`lightcli.config.hints` (as the checker does); a class's arguments are
jsonargparse's, as the parser sees them.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import inspect
import os
import pathlib
from collections import abc
from typing import Any, get_args, get_origin

from lightcli.config import hints

__all__ = ["SchemaBuilder"]

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


_SIGNATURES: dict[type, tuple[list[Any], bool]] = {}
"""Each class's parameters, read once per process (most of a schema's time): the schemas of the four subcommands
and the completion scripts share them. Every schema builds its parser first, which sets jsonargparse's docstring
settings the same way each time (no attribute docstrings), so what is read does not depend on what ran before."""


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


class SchemaBuilder:
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
        union = hints.union_args(tp)
        if union is not None:
            settable = [a for a in union if not _is_torch_internal(a)] or list(union)
            return {"anyOf": [self.type_schema(a) for a in settable]}
        options = hints.literal_options(tp)
        if options is not None:
            return {"enum": [_json_value(a) for a in options]}
        if origin is not None and getattr(origin, "__name__", "") == "Annotated":  # pragma: no cover
            return self.type_schema(args[0])
        if hints.is_callable(tp):
            return self.callable_schema(tp)
        fixed = hints.fixed_items(tp)
        if fixed is not None:
            items = [self.type_schema(a) for a in fixed]
            return {"type": "array", "items": items, "minItems": len(items), "maxItems": len(items)}
        if origin in (tuple, *_SEQUENCES) or tp in (tuple, *_SEQUENCES):
            return {"type": "array", "items": self.type_schema(hints.item_type(tp))}
        if origin in _MAPPINGS or tp in _MAPPINGS:
            return {"type": "object", "additionalProperties": self.type_schema(hints.value_type(tp))}
        if origin is type or tp is type:
            return {"type": "string"}
        if inspect.isclass(tp):
            if issubclass(tp, enum.Enum):
                return {"enum": [m.name for m in tp]}
            if issubclass(tp, (str, os.PathLike)):
                return {"type": "string"}
            if hints.is_dataclass_type(tp):
                return self.dataclass_schema(tp)
            if _is_torch_internal(tp) or tp.__module__ == "builtins":
                return {}  # tensors, devices, dtypes...: not expressible in a config schema
            return self.class_spec((tp,), skip=0)
        return {}

    def callable_schema(self, tp: Any) -> dict[str, Any]:
        """A callable: an import path (a function) or a class_path whose instance (or partial) is called."""
        params = hints.callable_parts(tp)[0]
        skip = len(params) if isinstance(params, list) else 0
        bases = hints.returned_classes(tp)
        path = {"type": "string", "description": "The import path of a function or class."}
        if bases:
            return {"anyOf": [path, self.class_spec(bases, skip=skip)]}
        return {"anyOf": [path, self.class_spec((object,), skip=0)]}

    def signature(self, cls: type) -> tuple[list[Any], bool]:
        """The parameters jsonargparse accepts for a class, and whether they are known exactly.

        A plain ``__init__`` (no ``*args``/``**kwargs``) is read directly, which is fast; otherwise
        jsonargparse's resolver follows ``**kwargs`` into the parent classes, as the parser does.
        """
        if cls not in _SIGNATURES:
            fast = _plain_signature(cls)
            try:
                _SIGNATURES[cls] = (fast, True) if fast is not None else (hints.parameters(cls), True)
            except Exception:
                _SIGNATURES[cls] = ([], False)
        return _SIGNATURES[cls]

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

"""What ``--help`` shows of the System: the classes a config and the command line chose, and nested ``.help`` options.

Also what the command line asks before it is parsed: whether it asks for help (:func:`prints_help`), and the value
of an option (:func:`option_value`). No torch, no Lightning: only the arguments and the YAML of the config files
are read.
"""

from __future__ import annotations

from typing import Any

import yaml

from lightcli.config.files import read_text

__all__ = ["chosen_classes", "option_value", "prints_help", "with_system_help"]

_DEPTH = 4  # how deep under ``system`` chosen classes are looked for (dataloaders.train.init_args.dataset)


def _values(args: list[str], option: str) -> list[str]:
    """Every value of ``--option value`` or ``--option=value`` in args, in order."""
    found = []
    for i, arg in enumerate(args):
        if arg == option and i + 1 < len(args):
            found.append(args[i + 1])
        elif arg.startswith(option + "="):
            found.append(arg[len(option) + 1 :])
    return found


def option_value(args: list[str], option: str) -> str | None:
    """The value of ``--option value`` or ``--option=value`` in args (the last one wins), else None."""
    values = _values(args, option)
    return values[-1] if values else None


def prints_help(args: list[str]) -> bool:
    """Whether the arguments ask for help (``-h``, ``--help``, a nested ``.help``, ``--print_config=comments``)."""
    return any(a in ("-h", "--help") or a.endswith(".help") or ".help=" in a or "comments" in a for a in args)


def _collect(value: Any, prefix: str, depth: int, into: dict[str, str]) -> None:
    if not isinstance(value, dict) or depth < 0:
        return
    if isinstance(value.get("class_path"), str) and prefix:
        into[prefix] = value["class_path"]
        init_args = value.get("init_args")
        for key, child in (init_args if isinstance(init_args, dict) else {}).items():
            _collect(child, f"{prefix}.init_args.{key}", depth - 1, into)
        return
    for key, child in value.items():
        _collect(child, f"{prefix}.{key}" if prefix else str(key), depth - 1, into)


def chosen_classes(args: list[str]) -> dict[str, str]:
    """The class_path chosen for each key under ``system``, by the config files and then the command line.

    Keys are dotted as the parser spells them (``model``, ``dataloaders.train.init_args.dataset``).
    A file that cannot be read is left out: the parse that follows reports it.
    """
    chosen: dict[str, str] = {}
    for path in [*_values(args, "--config"), *_values(args, "-c")]:
        try:
            config = yaml.safe_load(read_text(path))
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
        system = config.get("system") if isinstance(config, dict) else None
        if isinstance(system, dict):
            _collect(system.get("init_args", system) if "class_path" in system else system, "", _DEPTH, chosen)
    for arg in args:
        option = arg.split("=", 1)[0]
        if option.startswith("--system.") and not option.endswith(".help"):
            key = option.removeprefix("--system.").removesuffix(".class_path")
            value = option_value(args, option) or ""
            if "." in value and not value.lstrip().startswith(("{", "[")) and " " not in value:
                chosen[key] = value  # --system.model lightcli.MLP: a class given by its path
    return chosen


def with_system_help(args: list[str], system_class_path: str = "lightcli.System") -> list[str]:
    """Args where ``--system.<key>.help`` works on its own: ``--system.help <System class>`` goes before it.

    jsonargparse answers a nested ``.help`` only after the help of the class that holds it; the ``--system.help``
    output advertises ``--system.adapters.help`` and the like, which alone would fail ("expected one argument").
    """
    if any(a.split("=", 1)[0] == "--system.help" for a in args):
        return args
    for i, arg in enumerate(args):
        option = arg.split("=", 1)[0]
        if option.startswith("--system.") and option.endswith(".help"):
            return [*args[:i], "--system.help", system_class_path, *args[i:]]
    return args

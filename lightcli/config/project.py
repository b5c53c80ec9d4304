"""Project modules: a folder of the user's own code, importable by class_path as ``project.<module>.<Name>``.

``lightcli fit --project path/to/my_project --config my.yaml`` imports the folder as the package
``project`` (the name Lighter uses), so a config can say ``class_path: project.models.MyNet`` from any
working directory. Every module of the folder is imported at start, so a broken import is reported
at once, naming the file; keep scripts with side effects under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import traceback
from pathlib import Path

from lightcli.config.allowlist import trust
from lightcli.config.problems import ConfigError, Problem

__all__ = ["PACKAGE", "load_project", "pop_project"]

PACKAGE = "project"
"""The package name a project folder is imported as."""

_OPTION = "--project"


def pop_project(args: list[str]) -> tuple[list[str], str | None]:
    """Removes ``--project <folder>`` (or ``--project=<folder>``) from the arguments.

    Returns:
        The other arguments and the folder (the last one given), or None.

    Raises:
        ConfigError: ``--project`` is given without a folder.
    """
    rest: list[str] = []
    folder: str | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == _OPTION:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise ConfigError(
                    Problem(_OPTION, "a folder of Python code", "nothing", f"Use {_OPTION} path/to/folder.")
                )
            folder = args[i + 1]
            i += 2
            continue
        if arg.startswith(_OPTION + "="):
            folder = arg[len(_OPTION) + 1 :]
        else:
            rest.append(arg)
        i += 1
    return rest, folder


def load_project(folder: str) -> list[str]:
    """Imports ``folder`` as the package ``project`` with all its modules.

    Returns:
        The names of the imported modules.

    Raises:
        ConfigError: The folder does not exist or a module inside fails to import.
    """
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        what = "a file" if root.exists() else "no such folder"
        fix = "Give the folder holding your models, datasets and callbacks."
        raise ConfigError(Problem(_OPTION, "a folder of Python code", f"{folder!r} ({what})", fix))
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]  # another project loaded before in this process
    init = root / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(PACKAGE, init, submodule_search_locations=[str(root)])
    else:  # a plain folder: a package without __init__.py
        spec = importlib.machinery.ModuleSpec(PACKAGE, None, is_package=True)
        spec.submodule_search_locations = [str(root)]
    assert spec is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    imported = [PACKAGE]
    _run(spec, package, init if init.is_file() else None, folder)
    for file in sorted(root.rglob("*.py")):
        parts = file.relative_to(root).with_suffix("").parts
        if file.name == "__init__.py":
            parts = parts[:-1]
        if not parts or any(not p.isidentifier() for p in parts):
            continue
        name = ".".join((PACKAGE, *parts))
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except Exception as error:
            raise _import_error(folder, file, error) from None
        imported.append(name)
    trust(PACKAGE)  # asked for on the command line, and its code has run: its classes pass the allowlist
    return imported


def _run(spec: importlib.machinery.ModuleSpec, package: object, init: Path | None, folder: str) -> None:
    if init is None or spec.loader is None:
        return
    try:
        spec.loader.exec_module(package)  # type: ignore[arg-type]
    except Exception as error:
        del sys.modules[PACKAGE]
        raise _import_error(folder, init, error) from None


def _import_error(folder: str, file: Path, error: BaseException) -> ConfigError:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename).resolve() == file.resolve()]
    line = f", line {frames[-1].lineno}" if frames else ""
    where = file.relative_to(Path(folder).expanduser().resolve())
    got = f"{folder!r}, where {where}{line} fails with {type(error).__name__}: {error}"
    fix = "Fix that module (or install what it imports)."
    return ConfigError(Problem(_OPTION, "a folder whose modules import", got, fix))

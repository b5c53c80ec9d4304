"""Project modules: a folder of the user's own code, importable by class_path as ``project.<module>.<Name>``.

``lightcli fit --project path/to/my_project --config my.yaml`` imports the folder as the package
``project`` (the name Lighter uses), so a config can say ``class_path: project.models.MyNet`` from any
working directory. A config can name the folder itself, ``project: ../my_project`` (relative to the config
file); ``--project`` wins over it. The run folder's ``config.yaml`` records the folder (an absolute path) and
``command.txt`` the ``--project`` option, so rerunning, resuming or testing a checkpoint of the run
(``--ckpt_path runs/x/version_0/checkpoints/last.ckpt``: its run folder's ``config.yaml``) loads it again.
Every module of the folder is imported at start, so a broken import is reported
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
from lightcli.config.safeyaml import load_file

__all__ = [
    "CONFIG_KEY",
    "MISSING_FIX",
    "PACKAGE",
    "forget",
    "load_project",
    "loaded_project",
    "missing_project",
    "pop_project",
    "project_for_checkpoint",
    "project_of_checkpoint",
    "project_of_configs",
]

PACKAGE = "project"
"""The package name a project folder is imported as."""

CONFIG_KEY = "project"
"""The config key naming the project folder (relative to the config file)."""

MISSING_FIX = (
    "Give the folder of your code: --project path/to/folder, or `project: path/to/folder` in the config "
    "(from Python: System.load_from_checkpoint(path, project='path/to/folder'))."
)
"""How to give the project, said where a ``project.*`` class path cannot be imported."""

_OPTION = "--project"
_RUN_CONFIG = "config.yaml"
_loaded: dict[str, str] = {}  # "folder": the absolute folder imported as `project` in this process


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
    _loaded["folder"] = str(root)
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


def forget() -> None:
    """A new command: no project is recorded for its run until one is given (modules already imported stay)."""
    _loaded.clear()


def loaded_project() -> str | None:
    """The absolute folder imported as ``project`` by :func:`load_project` in this process, or None."""
    folder = _loaded.get("folder")
    return folder if folder is not None and PACKAGE in sys.modules else None


def project_for_checkpoint(ckpt_path: str | Path, project: str | Path | None = None) -> None:
    """Imports the project a checkpoint's config names: ``project``, else the one its run folder recorded.

    Nothing is imported when neither is known, or when that folder is imported already.

    Raises:
        ConfigError: The folder does not exist or a module inside fails to import.
    """
    folder = str(project) if project is not None else project_of_checkpoint(ckpt_path)
    if folder is not None and loaded_project() != str(Path(folder).expanduser().resolve()):
        load_project(folder)


def missing_project(error: BaseException) -> ConfigError | None:
    """The error to raise instead of ``error`` when it says the ``project`` package is missing, else None."""
    if f"No module named '{PACKAGE}'" not in str(error):
        return None
    return ConfigError(Problem(CONFIG_KEY, "the folder of the code the config names as project.*", "none", MISSING_FIX))


def _project_in(config_file: Path) -> str | None:
    """The ``project:`` of a config file, as a path (relative to the file), or None."""
    content, problem = load_file(str(config_file))
    if problem is not None or not isinstance(content, dict):
        return None  # reported by the parse
    value = content.get(CONFIG_KEY)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            Problem(CONFIG_KEY, "a folder of Python code (a path)", repr(value), "", origin=str(config_file))
        )
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else config_file.parent / path)


def _values(args: list[str], *options: str) -> list[str]:
    found = []
    for i, arg in enumerate(args):
        name, equals, value = arg.partition("=")
        if name in options:
            if equals:
                found.append(value)
            elif i + 1 < len(args):
                found.append(args[i + 1])
    return found


def project_of_checkpoint(ckpt_path: str | Path) -> str | None:
    """The project folder recorded by the run a checkpoint belongs to (``<run>/checkpoints/x.ckpt``), or None."""
    ckpt = Path(ckpt_path)
    for run in (ckpt.parent.parent, ckpt.parent):  # checkpoints/last.ckpt, or hpc_ckpt_1.ckpt in the run folder
        if (run / _RUN_CONFIG).is_file():
            return _project_in(run / _RUN_CONFIG)
    return None


def project_of_configs(args: list[str]) -> str | None:
    """The project folder named by the ``--config`` files in ``args`` (the last that names one), else by the
    run folder of ``--ckpt_path``; None when none names one.

    Raises:
        ConfigError: A config's ``project:`` is not a path.
    """
    folders = [f for f in (_project_in(Path(c)) for c in _values(args, "--config", "-c") if Path(c).is_file()) if f]
    if folders:
        return folders[-1]
    ckpts = [c for c in _values(args, "--ckpt_path") if c.endswith(".ckpt") and Path(c).is_file()]
    return project_of_checkpoint(ckpts[-1]) if ckpts else None


def _run(spec: importlib.machinery.ModuleSpec, package: object, init: Path | None, folder: str) -> None:
    if init is None or spec.loader is None:
        return
    try:
        spec.loader.exec_module(package)  # type: ignore[arg-type]
    except Exception as error:
        del sys.modules[PACKAGE]
        _loaded.pop("folder", None)
        raise _import_error(folder, init, error) from None


def _import_error(folder: str, file: Path, error: BaseException) -> ConfigError:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename).resolve() == file.resolve()]
    line = f", line {frames[-1].lineno}" if frames else ""
    where = file.relative_to(Path(folder).expanduser().resolve())
    got = f"{folder!r}, where {where}{line} fails with {type(error).__name__}: {error}"
    fix = "Fix that module (or install what it imports)."
    return ConfigError(Problem(_OPTION, "a folder whose modules import", got, fix))

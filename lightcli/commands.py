"""The ``lightcli`` command: finds the subcommand in :data:`lightcli.config.commands.COMMANDS` and runs it.

Each subcommand imports only what it uses: a tool that only reads YAML (``lightcli diff`` of two runs)
runs without importing torch or Lightning, which only the Lightning subcommands and the tools that
build a parser import (through :mod:`lightcli.cli`).
"""

from __future__ import annotations

import importlib
import os
import sys

from lightcli.config import files, index, migrations
from lightcli.config.answers import answered
from lightcli.config.commands import COMMANDS, LIGHTNING_TARGET, SUBCOMMANDS, requested_subcommand
from lightcli.config.preflight import version_problems, versions_text
from lightcli.config.problems import ConfigError
from lightcli.config.project import forget as forget_project
from lightcli.config.project import load_project, pop_project, project_of_configs
from lightcli.run.quiet import quiet

__all__ = ["main", "run"]


def main(args: list[str] | None = None, background: bool = False) -> int:
    """Runs ``lightcli`` with the given arguments (``sys.argv[1:]`` when None) and returns the exit code.

    Modules in the current working directory are importable by class_path, and so are those of
    ``--project <folder>`` (or ``project: <folder>`` in a config) as ``project.<module>.<Name>`` (see
    :mod:`lightcli.config.project`). Help, completion scripts, schemas and static checks are answered from a
    cache kept per environment when nothing they depend on changed (see :mod:`lightcli.config.answers`); those
    that read no config, from the environment's index (see :mod:`lightcli.config.index`).

    Args:
        args: The arguments (``sys.argv[1:]`` when None).
        background: Whether a forked copy of this process may render the rest of the index once the answer is
            printed (the ``lightcli`` command: :func:`run`).
    """
    argv = list(sys.argv[1:] if args is None else args)
    if "--version" in argv and requested_subcommand(argv) in (None, *SUBCOMMANDS):
        print(versions_text())  # importlib.metadata only: no torch
        return 0
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    files.forget()  # a new command: each config file is read once, by whoever asks (lightcli.config.files)
    migrations.forget()  # ... each migration applied is reported once
    forget_project()  # and its run records the project given to it, if any
    try:
        rest, project = pop_project(argv)  # --project <folder>: user code as `project.*`
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    asked = index.question(rest)
    if asked is not None:  # no config read: from the environment's index, else rendered with the rest of it
        unloaded = [project]

        def render(args: list[str]) -> int:
            folder, unloaded[:] = unloaded[0], [None]  # the project is imported once per process
            return _dispatch(args, folder)

        lightning = LIGHTNING_TARGET.split(":")[0]  # imports torch and Lightning (a project is imported before)
        prepare = None if project else lambda: importlib.import_module(lightning)
        return index.answered(asked, ["--project", project] if project else [], render, background, prepare)
    # help, completion, schema, a static check: kept per environment, answered again without torch
    return answered(argv, lambda: _dispatch(rest, project))


def _dispatch(argv: list[str], project: str | None) -> int:
    """Loads the ``--project`` folder (when given) and runs the subcommand ``argv`` names."""
    try:
        project = project or project_of_configs(argv)  # else `project:` in a config, or in a checkpoint's run
        if project is not None:
            load_project(project)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    unchecked = version_problems()  # lightcli's private upstream names were checked on these versions only
    if unchecked:
        for problem in unchecked:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    name = requested_subcommand(argv)
    command = next((c for c in COMMANDS if c.name == name), None)
    if command is not None and not command.modes:  # a tool: the arguments after its name
        target, rest = command.target, argv[argv.index(command.name) + 1 :]
    else:  # a Lightning subcommand, or none (its absence is reported by the Lightning runner)
        target, rest = LIGHTNING_TARGET, argv
    module, function = target.split(":")
    with quiet():  # config errors: one line each on stderr, exit code 2 (lightcli.config.explain)
        return int(getattr(importlib.import_module(module), function)(rest))


def run() -> None:
    """Console-script entry point.

    After a successful ``fit``/``validate``/``test``/``predict`` the process ends as soon as its
    output is safe: the trainer has already finalized the loggers and written the checkpoints; the
    exit handlers run and the standard streams are flushed, then Python's teardown of torch and
    Lightning (about a second) is skipped. Errors and the other subcommands exit normally.
    """
    code = main(background=True)
    if code == 0 and requested_subcommand(sys.argv[1:]) in SUBCOMMANDS:
        _exit_now()
    sys.exit(code)


def _exit_now() -> None:
    """Ends the process with exit code 0 after the exit handlers, without the interpreter's teardown."""
    import atexit
    import contextlib
    import logging

    atexit._run_exitfuncs()  # registered handlers (e.g. closing distributed process groups)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`lightcli fit --help | head -1`)
            stream.flush()
    os._exit(0)

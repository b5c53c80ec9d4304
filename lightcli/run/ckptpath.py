"""What ``ckpt_path`` gives a command, from the checkpoint read once (:mod:`lightcli.run.stored`).

- :func:`checked_system_config`: the system config a checkpoint stores, with the declared migrations applied and
  its class paths checked against the allowlist before anything of it is imported: the command parses with it.
- :func:`resolve_last`: the checkpoint ``ckpt_path: last`` names, and the run folder a resumed fit continues in.
- :func:`resume_changes`: every value a resumed fit changes from the config the checkpoint stores.
- :func:`check_ckpt_weights_fit`: whether the checkpoint's weights fit the model built for the command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

from lightcli.config.migrations import migrate, report
from lightcli.config.preflight import checkpoint_problems
from lightcli.config.problems import ConfigError
from lightcli.run import folders as runs
from lightcli.run.checkpoints import check_weights_fit, config_changes
from lightcli.run.stored import read_checkpoint, stored_system_config
from lightcli.upstream import lightning as upstream

__all__ = ["check_ckpt_weights_fit", "checked_system_config", "resolve_last", "resume_changes"]

_RESUMED_SECTIONS = ("trainer", "data", "seed_everything")
"""The sections besides ``system`` compared with the config a checkpoint stores (``run`` names the folder)."""


def checked_system_config(ckpt_path: str | None) -> dict[str, Any] | None:
    """The system config (class_path and init_args) a checkpoint was trained with, if it holds one.

    The checkpoint is read once per command (:mod:`lightcli.run.stored`).

    Raises:
        ConfigError: A class path of the stored config is outside the allowlist (checked before it is imported).
    """
    stored = stored_system_config(ckpt_path)
    if stored is not None:  # declared migrations (lightcli.config.migrations), before the allowlist sees it
        stored, changes = migrate(stored, ("system",))
        report(changes, f"checkpoint {ckpt_path}")
    problems = checkpoint_problems(stored, str(ckpt_path))
    if problems:
        raise ConfigError(problems)
    return stored


def resolve_last(config: Any) -> tuple[str | None, Path | None]:
    """The last checkpoint of the run ``ckpt_path: last`` resumes and that run's folder, else ``(None, None)``.

    The run is the one whose ``config.yaml`` is the first config file (``--config runs/x/version_0/config.yaml``),
    else the newest run of the same name under ``run.root``. Without a checkpoint there, rank 0 says on stderr
    that a new run starts.

    Args:
        config: The parsed config of the subcommand (a jsonargparse Namespace).
    """
    files = config.get("config") or []
    name = config.get("run.name") or (Path(str(files[0])).stem if files else "default")
    run_dir = runs.find_run_of_config(files[0]) if files else None
    run_dir = run_dir or runs.latest_run(config.get("run.root") or "runs", name)
    ckpt = runs.last_checkpoint(run_dir) if run_dir is not None else None
    if ckpt is None:
        if runs.global_rank() == 0:
            where = run_dir or Path(config.get("run.root") or "runs") / name
            print(f"ckpt_path last: no checkpoint in {where}: starting a new run.", file=sys.stderr)
        return None, None
    return str(ckpt), run_dir


def resume_changes(cli: upstream.CLIBase, stored: dict[str, Any], ckpt_path: str) -> dict[str, tuple[Any, Any]]:
    """``key -> (checkpoint's value, value in force)`` for every value a resumed fit changes, trainer included.

    Args:
        cli: The CLI that parsed the config in force.
        stored: The system config the checkpoint stores.
        ckpt_path: The checkpoint.
    """
    current = cli.config[cli.config["subcommand"]]
    others = None
    stored_run = read_checkpoint(ckpt_path).run_config  # the whole config of a lightcli run, read once
    if stored_run is not None:
        stored_run = migrate(stored_run)[0]  # compared as migrated
        now = upstream.section_dump(cli, _RESUMED_SECTIONS)  # only when resuming: one dump of these sections
        others = ({k: stored_run.get(k) for k in now}, now)
    return config_changes(stored, current.system.as_dict(), others)


def check_ckpt_weights_fit(model: torch.nn.Module, config: Any) -> None:
    """Checks that the weights of the subcommand's ``ckpt_path`` fit the built model, when it is a file.

    A model of another shape is named by the key that changed (:func:`lightcli.run.checkpoints.check_weights_fit`).

    Args:
        model: The model built for the command.
        config: The parsed config of the subcommand (a jsonargparse Namespace).
    """
    ckpt = config.get("ckpt_path")
    stored = checked_system_config(ckpt) if ckpt and Path(str(ckpt)).is_file() else None
    if stored is not None:
        check_weights_fit(model, str(ckpt), config_changes(stored, config.system.as_dict()))

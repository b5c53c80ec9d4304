"""Checks that need no parse failure: before parsing (subcommand, allowlist) and after it (what a run needs)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from lightcli.allowlist import allowed_prefixes, import_paths, refused
from lightcli.configsource import COMMAND_LINE, load_file, read_sources
from lightcli.problems import TRACEBACK_ENV_VAR, ConfigErrors, Problem, first_line, suggest

__all__ = ["check_optimizers", "preflight", "static_problems"]


# -- before parsing ---------------------------------------------------------------------------------------


def preflight(argv: list[str], subcommands: list[str]) -> None:
    """Checks what can be checked before the parser imports anything: the subcommand and the allowlist.

    Raises:
        ConfigErrors: with every problem found.
    """
    position = next((i for i, a in enumerate(argv) if a in subcommands), None)
    if position is None:
        # a bare word that is not the value of an option (`--config my.yaml`) stands where the subcommand goes
        bare = [
            a
            for i, a in enumerate(argv)
            if not a.startswith("-") and not (i and argv[i - 1].startswith("-") and "=" not in argv[i - 1])
        ]
        if bare or not any(a in ("-h", "--help") for a in argv):
            given = f"{bare[0]!r}" if bare else "nothing"
            hint = suggest(bare[0], subcommands) if bare else ""
            example = " ".join(argv) if argv and not bare else "--config my.yaml"
            raise ConfigErrors(
                [
                    Problem(
                        "subcommand",
                        f"one of {', '.join(subcommands)}",
                        given,
                        f"Write e.g. `lightcli fit {example}`.{hint}",
                    )
                ]
            )
        return
    before = argv[:position]
    if any(a == "--config" or a.startswith(("--config=", "-c")) for a in before) and not _top_level_config(before):
        raise ConfigErrors(
            [
                Problem(
                    "--config",
                    "it after the subcommand",
                    f"it before {argv[position]!r}",
                    f"Write `lightcli {argv[position]} --config FILE`.",
                    COMMAND_LINE,
                )
            ]
        )
    sources = read_sources(argv[position + 1 :])
    problems = list(sources.problems)
    for key, path in import_paths(sources.tree):
        blocked = refused(path)
        if blocked is not None:
            problems.append(Problem(key, *blocked, origin=sources.origin(key)))
    ckpt = sources.tree.get("ckpt_path")
    if allowed_prefixes() is not None and isinstance(ckpt, str) and Path(ckpt).is_file():
        for key, path in import_paths(_stored_config(ckpt), "system"):
            blocked = refused(path)
            if blocked is not None:
                problems.append(Problem(key, *blocked, origin=f"the checkpoint {ckpt}"))
    if problems:
        raise ConfigErrors(problems)


def _stored_config(ckpt: str) -> dict[str, Any]:
    """The system config stored in a checkpoint's hyperparameters (read without unpickling code)."""
    import torch

    try:
        stored = torch.load(ckpt, weights_only=True, map_location="cpu").get("hyper_parameters", {})
    except Exception:  # not a checkpoint: the run reports it
        return {}
    stored = dict(stored)
    stored.pop("_instantiator", None)
    class_path = stored.pop("_class_path", None)
    return {"class_path": class_path, "init_args": stored} if class_path else stored


def _top_level_config(before: list[str]) -> bool:
    """Whether the config files before the subcommand are jsonargparse top-level ones (``fit:`` keys)."""
    paths = [a.split("=", 1)[1] for a in before if a.startswith("--config=")]
    paths += [before[i + 1] for i, a in enumerate(before[:-1]) if a in ("--config", "-c")]
    contents = [load_file(p)[0] for p in paths]
    return bool(contents) and all(isinstance(c, dict) and any(k in c for k in _SUBCOMMAND_KEYS) for c in contents)


_SUBCOMMAND_KEYS = ("fit", "validate", "test", "predict")


# -- after a successful parse -----------------------------------------------------------------------------


def static_problems(config: Any, subcommand: str | None) -> list[Problem]:
    """Problems visible in a parsed config that would otherwise only show once training runs."""
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    from lightcli.classpaths import resolve_class

    if config is None or subcommand is None:
        return []
    system = config.get("system")
    init = system.get("init_args") if system is not None and hasattr(system, "get") else None
    if init is None:
        return []
    from lightcli.system import System

    cls: Any = System
    with contextlib.suppress(Exception):
        cls = resolve_class(str(system.get("class_path") or "lightcli.System"))
    own_step = getattr(cls, "training_step", None) is System.training_step  # else the subclass may not need these
    own_optimizers = getattr(cls, "configure_optimizers", None) is System.configure_optimizers
    problems: list[Problem] = []
    has_data = config.get("data") is not None
    loaders = init.get("dataloaders")
    if subcommand == "fit":
        if own_step and init.get("criterion") is None:
            problems.append(
                Problem(
                    "system.criterion",
                    "a loss for training",
                    "null",
                    "Set it, e.g. criterion: {class_path: torch.nn.CrossEntropyLoss}.",
                )
            )
        if own_optimizers and init.get("optimizer") is None:
            problems.append(
                Problem(
                    "system.optimizer",
                    "an optimizer for training",
                    "null",
                    "Set it, e.g. optimizer: {class_path: torch.optim.Adam, init_args: {lr: 0.001}}.",
                )
            )
    mode = {"fit": "train", "validate": "val", "test": "test", "predict": "predict"}[subcommand]
    if not has_data and (loaders is None or loaders.get(mode) is None):
        problems.append(
            Problem(
                f"system.dataloaders.{mode}",
                f"a loader for the {mode} data",
                "null",
                f"Set system.dataloaders.{mode} (e.g. class_path: lightcli.Loader) or pass --data.",
            )
        )
    ckpt = config.get("ckpt_path")
    if (
        isinstance(ckpt, str)
        and ckpt not in ("last", "best", "hpc")
        and "://" not in ckpt
        and not ckpt.startswith("registry")
    ):
        from pathlib import Path

        if not Path(ckpt).is_file():
            problems.append(
                Problem(
                    "ckpt_path",
                    "an existing checkpoint file",
                    f"{ckpt!r} (no such file)",
                    "Check the path; checkpoints are under runs/<name>/version_<n>/checkpoints/.",
                )
            )
    scheduler = init.get("scheduler")
    if (
        own_optimizers
        and subcommand == "fit"
        and scheduler is not None
        and scheduler.get("monitor") in (None, "None", "null", "")
    ):
        path = scheduler.get("scheduler.class_path") if hasattr(scheduler, "get") else None
        with contextlib.suppress(Exception):
            if isinstance(path, str) and issubclass(resolve_class(path), ReduceLROnPlateau):
                problems.append(
                    Problem(
                        "system.scheduler.monitor",
                        "the name of a logged metric for ReduceLROnPlateau",
                        "null",
                        "Set it, e.g. monitor: val/loss.",
                    )
                )
    return problems


def check_optimizers(system: Any, subcommand: str | None) -> None:
    """Builds the optimizer and scheduler of a :class:`~lightcli.System` before ``fit`` starts (then drops them).

    A bad value (``lr: -1``) fails here, named by its key, instead of after the run has started.

    Raises:
        ConfigErrors: naming ``system.optimizer`` or ``system.scheduler.scheduler``.
    """
    from lightcli.system import System

    if subcommand != "fit" or not isinstance(system, System):
        return
    if type(system).configure_optimizers is not System.configure_optimizers or system.optimizer_factory is None:
        return
    fix = f"Check its init_args ({TRACEBACK_ENV_VAR}=1 shows the traceback)."
    try:
        optimizer = system.optimizer_factory(system.parameters())
    except Exception as error:
        got = f"{type(error).__name__}: {first_line(error)}"
        raise ConfigErrors([Problem("system.optimizer", "an optimizer that builds", got, fix)]) from error
    if system.scheduler is None:
        return
    try:
        system.scheduler.scheduler(optimizer)
    except Exception as error:
        got = f"{type(error).__name__}: {first_line(error)}"
        raise ConfigErrors([Problem("system.scheduler.scheduler", "a scheduler that builds", got, fix)]) from error

"""The Lightning subcommands of ``lightcli``: LightningCLI with a System under the ``system`` key.

Every subcommand is listed in one place, :data:`lightcli.config.commands.COMMANDS`; :mod:`lightcli.commands`
runs the one asked for (``main`` and ``run`` are re-exported here).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn, Optional

import yaml
from jsonargparse import Namespace, set_parsing_settings
from pytorch_lightning import LightningDataModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.callbacks import ProgressBar as _LightningProgressBar
from pytorch_lightning.cli import LightningArgumentParser

from lightcli.commands import main, run
from lightcli.config.commands import NAMES, SUBCOMMANDS, TOOLS, requested_subcommand
from lightcli.config.explain import ParseFailure, building, naming, run_reported
from lightcli.config.files import read_text
from lightcli.config.preflight import checkpoint_problems, version_problems
from lightcli.config.problems import ConfigError
from lightcli.config.project import CONFIG_KEY as PROJECT_KEY
from lightcli.config.project import loaded_project
from lightcli.config.sources import shared_values
from lightcli.core.freezer import Freezer
from lightcli.core.rules import check_optimizers, static_problems
from lightcli.core.system import System
from lightcli.run import folders as runs
from lightcli.run.checkpoints import (
    GracefulStop,
    RandomState,
    ResumeOverrides,
    check_weights_fit,
    config_changes,
    use_atomic_checkpoints,
)
from lightcli.run.console import ProgressBar, metrics_table
from lightcli.run.stored import forget as forget_checkpoints
from lightcli.run.stored import stored_system_config
from lightcli.upstream.jsonargparse import install, read_config_files_with
from lightcli.upstream.lightning import CLIBase, SectionInstantiator, parsers_only

__all__ = ["SUBCOMMANDS", "TOOLS", "LightCLI", "build_parser", "main", "run", "run_lightning"]


def _prints_help(args: list[str]) -> bool:
    return any(a in ("-h", "--help") or a.endswith(".help") or ".help=" in a or "comments" in a for a in args)


def _option_value(args: list[str], option: str) -> str | None:
    """The value of ``--option value`` or ``--option=value`` in args (the last one wins), else None."""
    value = None
    for i, arg in enumerate(args):
        if arg == option and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(option + "="):
            value = arg[len(option) + 1 :]
    return value


def _stored_system_config(ckpt_path: str | None) -> dict[str, Any] | None:
    """The system config (class_path and init_args) a checkpoint was trained with, if it holds one.

    The checkpoint is read once per command (:mod:`lightcli.run.stored`).

    Raises:
        ConfigError: A class path of the stored config is outside the allowlist (checked before it is imported).
    """
    stored = stored_system_config(ckpt_path)
    problems = checkpoint_problems(stored, str(ckpt_path))
    if problems:
        raise ConfigError(problems)
    return stored


class StrictParser(LightningArgumentParser):
    """The parser of ``lightcli``: a rejected config raises :class:`ParseFailure` instead of printing usage."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        """Raises :class:`ParseFailure` (jsonargparse's own nested parsers keep raising ``ArgumentError``)."""
        if not self.exit_on_error:
            super().error(message, ex)
        raise ParseFailure(message, ex, self)


def _lightning_options() -> dict[str, Any]:
    """What :class:`LightCLI` gives LightningCLI besides the System, the arguments and ``run``."""
    return {
        "subclass_mode_model": True,
        "auto_configure_optimizers": False,  # the System configures its own optimizer
        "save_config_callback": None,  # runs.RunDirectory saves the config, once, whatever the loggers
        "trainer_defaults": {
            "logger": [
                {
                    "class_path": "pytorch_lightning.loggers.TensorBoardLogger",
                    "init_args": {"save_dir": "runs", "default_hp_metric": False},
                },
                {"class_path": "pytorch_lightning.loggers.CSVLogger", "init_args": {"save_dir": "runs"}},
            ],
        },
        "parser_class": StrictParser,  # a rejected config raises, so main() can explain it (lightcli.config.explain)
    }


class LightCLI(CLIBase):
    """LightningCLI for a :class:`~lightcli.System` (or a subclass) under the ``system`` key.

    Differences from LightningCLI: the module key is ``system``; abbreviated options are errors;
    only the parser of the requested subcommand is built; values given in configs or on the command
    line win over the hyperparameters stored in a ``--ckpt_path`` checkpoint; runs log to
    ``runs/<config name>/version_<n>`` with TensorBoard by default; the console stays quiet.
    """

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        problems = version_problems()  # private upstream names: refuse versions they were not checked on
        if problems:
            raise ConfigError(problems)
        self._prepare(args)
        super().__init__(System, args=self._argv, run=run, **_lightning_options())

    def _prepare(self, args: list[str] | None) -> None:
        """Sets what the parsers and the run read, before LightningCLI builds the parsers."""
        self._argv = list(sys.argv[1:] if args is None else args)
        self._requested = requested_subcommand(self._argv)
        self._resolved_argv = self._argv  # with shared values resolved (parse_arguments)
        self._resume_dir: Path | None = None
        self._run: runs.RunDirectory | None = None
        self._changes: dict[str, tuple[Any, Any]] = {}
        # dataclass field docstrings are help text only, and reading them costs seconds: only for help
        set_parsing_settings(docstring_parse_attribute_docstrings=_prints_help(self._argv))

    # -- parsers -------------------------------------------------------------------------------------

    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        """Builds a parser that rejects abbreviated options (``--trainer.max_epoch`` is an error)."""
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("description", "Train, validate, test and predict with a typed System from YAML configs.")
        kwargs.setdefault("dump_header", ["lightcli config: run it with `lightcli fit --config <this file>`"])
        install()  # lists of class_path entries parse in linear time (lightcli.upstream.jsonargparse)
        return super().init_parser(**kwargs)

    def add_core_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """Adds ``trainer``, ``system`` and the optional ``data`` (a LightningDataModule)."""
        parser.add_lightning_class_args(self.trainer_class, "trainer")
        parser.set_defaults({f"trainer.{k}": v for k, v in self.trainer_defaults.items() if k != "callbacks"})
        parser.add_lightning_class_args(System, "system", subclass_mode=True)
        parser.set_defaults({"system": {"class_path": "lightcli.System"}})
        parser.add_lightning_class_args(LightningDataModule, "data", subclass_mode=True, required=False)

    def add_subcommands(self, parser: LightningArgumentParser, **kwargs: Any) -> None:
        """Registers every subcommand, but builds the full parser only for the one requested."""
        subcommands = parser.add_subcommands()
        for name, description in SUBCOMMANDS.items():
            if name == self._requested:
                subparser = self.prepare_subcommand_parser(Trainer, name, description=description)
            else:
                subparser = self.init_parser(description=description)
            self.subcommand_parsers[name] = subparser
            subcommands.add_subcommand(name, subparser, help=description)
        for name, (_, description) in TOOLS.items():  # listed in --help; run by main()
            subcommands.add_subcommand(name, self.init_parser(description=description), help=description)

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parses the arguments given to :class:`LightCLI` (the command line by default).

        With ``--ckpt_path <file>`` on the command line, the system config stored in the checkpoint is
        parsed first, so ``lightcli test --ckpt_path <file>`` needs no config, and every config file or
        value given on the command line wins over the stored one.
        """
        read_config_files_with(read_text)  # jsonargparse reads each config file once too (lightcli.config.files)
        args = self._shared_values(args)
        forget_checkpoints()  # each command reads its checkpoint afresh, once
        stored = _stored_system_config(_option_value(args, "--ckpt_path"))
        self.config = parser.parse_args(self._with_stored_system(args, stored))

    def _shared_values(self, args: list[str]) -> list[str]:
        """Resolves ``${dotted.key}`` references on the merged config before jsonargparse checks it
        (:func:`lightcli.config.sources.shared_values`)."""
        if self._requested is None or self._requested not in args:
            return args
        position = args.index(self._requested) + 1
        self._resolved_argv = [*args[:position], *shared_values(args[position:])]
        return self._resolved_argv

    def _with_stored_system(self, args: list[str], stored: dict[str, Any] | None) -> list[str]:
        if stored is None or self._requested is None:
            return args
        position = args.index(self._requested) + 1
        return [*args[:position], f"--system={yaml.safe_dump(stored)}", *args[position:]]

    # -- checkpoints ---------------------------------------------------------------------------------

    def resolve_checkpoint(self) -> None:
        """Handles ``ckpt_path: last`` and a ``ckpt_path`` given in a config file.

        ``last`` is the last checkpoint of the run being resumed: the run whose ``config.yaml`` is
        given (``--config runs/x/version_0/config.yaml``), else the newest run of the same name. With
        ``fit``, training continues in that run's directory. Without a checkpoint to resume, a new run
        starts. The system config stored in the checkpoint is used as defaults: configs and values on
        the command line win.
        """
        subcommand = self.config.get("subcommand")
        if not subcommand:
            return
        ckpt_path = self.config[subcommand].get("ckpt_path")
        applied = _option_value(self._argv, "--ckpt_path") is not None  # by parse_arguments
        if ckpt_path == "last":
            ckpt_path, applied = self._resolve_last(self.config[subcommand]), False
        stored = _stored_system_config(ckpt_path)
        if stored is not None and not applied:
            self.config = self.parser.parse_args(self._with_stored_system(self._resolved_argv, stored))
        self.config[subcommand].ckpt_path = ckpt_path
        if stored is not None and subcommand == "fit":
            self._changes = config_changes(stored, self.config[subcommand].system.as_dict())

    def _resolve_last(self, config: Namespace) -> str | None:
        files = config.get("config") or []
        name = config.get("run.name") or (Path(str(files[0])).stem if files else "default")
        run_dir = runs.find_run_of_config(files[0]) if files else None
        run_dir = run_dir or runs.latest_run(config.get("run.root") or "runs", name)
        ckpt = runs.last_checkpoint(run_dir) if run_dir is not None else None
        if ckpt is None:
            if runs.global_rank() == 0:
                where = run_dir or Path(config.get("run.root") or "runs") / name
                print(f"ckpt_path last: no checkpoint in {where}: starting a new run.", file=sys.stderr)
            return None
        if self._requested == "fit":
            self._resume_dir = run_dir
        return str(ckpt)

    def add_instantiators(self) -> None:
        """Stores the system's and the datamodule's config as their hyperparameters, from their sections only."""
        # the hyperparameters come from a dump of the system and data sections, not of the whole config
        self.parser.add_instantiator(SectionInstantiator(cli=self, key="system"), System, subclasses=True)
        self.parser.add_instantiator(SectionInstantiator(cli=self, key="data"), LightningDataModule, subclasses=True)

    # -- instantiation -------------------------------------------------------------------------------

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """Adds ``run.name`` and ``run.root``: the run directory is ``<root>/<name>/version_<n>``; and ``project``."""
        parser.add_class_arguments(runs.RunOptions, "run")
        parser.add_argument(  # read and imported before parsing, by lightcli.commands (lightcli.config.project)
            f"--{PROJECT_KEY}",
            type=Optional[str],  # noqa: UP045 - jsonargparse reads the type at run time
            default=None,
            help="The folder of your own code, imported as `project` (class_path: project.models.MyNet); "
            "relative to the config file. --project on the command line wins.",
        )

    def before_instantiate_classes(self) -> None:
        """Chooses the run directory and points the TensorBoard and CSV loggers into it.

        A resumed fit (``--ckpt_path last``) continues in its run's directory; every other run gets a
        new ``<run.root>/<run.name>/version_<n>``, named after the first config file unless
        ``run.name`` is given. The directory is created when the run starts, so a config error leaves
        nothing behind; nothing is written with ``trainer.fast_dev_run``.
        """
        config = self.config[self.subcommand] if self.subcommand else self.config
        if not self.subcommand or config.trainer.get("fast_dev_run"):
            return
        files = config.get("config") or []
        if not config.run.name:
            config.run.name = Path(str(files[0])).stem if files else "default"
        run_dir = self._resume_dir or runs.run_dir_from_launcher() or runs.new_run_dir(config.run.root, config.run.name)
        runs.share_with_launched_processes(run_dir)
        saved = config.clone()
        saved.ckpt_path = None  # the config reruns the run from the start
        project = loaded_project()
        if project is not None:  # the run's own folder of code, found again by a rerun, a resume, a --ckpt_path
            saved[PROJECT_KEY] = project
        argv = ["--project", project, *self._argv] if project is not None else self._argv
        text = self.subcommand_parser(self.subcommand).dump(saved, skip_none=False)
        runs.place_loggers(config.trainer, run_dir)
        if config.trainer.get("default_root_dir") is None:
            config.trainer.default_root_dir = str(run_dir)
        resumed = config.get("ckpt_path") if self._resume_dir is not None else None
        self._run = runs.RunDirectory(run_dir, text, runs.command_line(argv), config.get("seed_everything"), resumed)

    def instantiate_classes(self) -> None:
        """Builds the system, the optional datamodule and the trainer."""
        problems = static_problems(
            self.config.get(self.subcommand) if self.subcommand else self.config, self.subcommand
        )
        if problems:
            raise ConfigError(problems)
        with building(self.parser, self.config, self.subcommand):  # names the key of a component that raises
            self.config_init = self.parser.instantiate_classes(self.config)
        self.datamodule = self.section(self.config_init, "data")
        self.model = self.section(self.config_init, "system")
        check_optimizers(self.model, self.subcommand)  # a bad lr fails now, not after the run started
        with naming("trainer", "a Trainer"):  # e.g. an accelerator this machine lacks
            self.trainer = self.instantiate_trainer()

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        """Builds the trainer, with lightcli's progress bar unless the progress bar is disabled.

        Adds the run directory's callbacks, checkpoints every epoch to ``<run>/checkpoints`` (with
        ``last.ckpt``) unless a ModelCheckpoint is given, and writes checkpoints atomically.
        """
        callbacks = [self.section(self.config_init, c) for c in self.subcommand_parser(self.subcommand).callback_keys]
        config = {**self.section(self.config_init, "trainer", default={}), **kwargs}
        given = config.get("callbacks") or []
        if config.get("enable_progress_bar") is not False and not any(
            isinstance(c, _LightningProgressBar) for c in given
        ):
            callbacks.append(ProgressBar())
        if self._run is not None:
            run_dir = self._run.run_dir
            hint = runs.command_line(["fit", "--config", str(run_dir / runs.CONFIG_FILE), "--ckpt_path", "last"])
            callbacks += [self._run, RandomState(), GracefulStop(run_dir / runs.CHECKPOINTS, hint)]
            if self._changes:
                callbacks.append(ResumeOverrides(self._changes))
            if config.get("enable_checkpointing") is not False and not any(
                isinstance(c, ModelCheckpoint) for c in [*given, *callbacks]
            ):
                callbacks.append(  # one run per directory: overwrite, never last-v1.ckpt
                    ModelCheckpoint(dirpath=run_dir / runs.CHECKPOINTS, save_last=True, enable_version_counter=False)
                )
        trainer = self.build_trainer(config, callbacks)
        use_atomic_checkpoints(trainer)
        return trainer

    def before_fit(self) -> None:
        """Checks callbacks against the built model (a Freezer's prefixes), and that the weights of a resumed
        checkpoint still fit a model changed on the command line: before the run directory exists."""
        for callback in getattr(self.trainer, "callbacks", []):  # set by Lightning at build time
            if isinstance(callback, Freezer):
                callback.check(self.model)
        if self._changes:
            check_weights_fit(self.model, self.config[self.subcommand].ckpt_path, self._changes)

    def after_fit(self) -> None:
        """Prints the final epoch's metrics."""
        if self.trainer.is_global_zero:
            table = metrics_table(self.trainer.callback_metrics, title="final metrics")
            if table:
                print(table)
            best = getattr(self.trainer.checkpoint_callback, "best_model_path", "")
            if best:
                print(f"checkpoint: {best}")


def build_parser(subcommand: str = "fit", root: bool = False) -> LightningArgumentParser:
    """Builds the parser of ``lightcli <subcommand>`` exactly as the CLI does, without parsing or running anything.

    Args:
        subcommand: One of fit, validate, test, predict.
        root: Return the whole ``lightcli`` parser (which takes the subcommand first) instead.
    """
    options = _lightning_options()
    cli = LightCLI.__new__(LightCLI)
    cli._prepare([subcommand])
    return parsers_only(cli, System, LightningDataModule, Trainer, options, subcommand, root)


def run_lightning(argv: list[str]) -> int:
    """Runs a Lightning subcommand (``argv`` holds it) with :class:`LightCLI` and returns the exit code.

    Config errors are printed one line each on stderr, with exit code 2 (:func:`lightcli.config.explain.run_reported`).
    """
    return run_reported(lambda: LightCLI(args=argv), argv, list(NAMES))

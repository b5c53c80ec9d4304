"""The Lightning subcommands of ``lightcli``: LightningCLI with a System under the ``system`` key.

Every subcommand is listed in one place, :data:`lightcli.config.commands.COMMANDS`; :mod:`lightcli.commands`
runs the one asked for (``main`` and ``run`` are re-exported here).
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, Optional

import yaml
from jsonargparse import Namespace, set_dumper, set_parsing_settings
from pytorch_lightning import LightningDataModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.callbacks import ProgressBar as _LightningProgressBar
from pytorch_lightning.cli import LightningArgumentParser

from lightcli.commands import main, run
from lightcli.config.allowlist import check_import
from lightcli.config.classpaths import resolve_class
from lightcli.config.commands import MODES, NAMES, SUBCOMMANDS, TOOLS, requested_subcommand
from lightcli.config.explain import ParseFailure, building, naming, run_reported
from lightcli.config.fastyaml import dump as fast_yaml_dump
from lightcli.config.fastyaml import load_dumped
from lightcli.config.helpargs import chosen_classes, with_system_help
from lightcli.config.migrations import migrate, read_migrated, report
from lightcli.config.preflight import checkpoint_problems, version_problems
from lightcli.config.problems import TRACEBACK_ENV_VAR, ConfigError, Problem
from lightcli.config.project import CONFIG_KEY as PROJECT_KEY
from lightcli.config.project import loaded_project
from lightcli.config.provenance import PROVENANCE_OPTION, provenance
from lightcli.config.sources import read_sources, shared_values
from lightcli.core.blame import component_key
from lightcli.core.freezer import Freezer, check_freezers
from lightcli.core.rules import check_optimizers, run_folder_problems, static_problems
from lightcli.core.system import System
from lightcli.run import folders as runs
from lightcli.run.checkpoints import (
    GracefulStop,
    RandomState,
    ResumeOverrides,
    check_resume_rules,
    check_weights_fit,
    config_changes,
    use_atomic_checkpoints,
)
from lightcli.run.console import ProgressBar, metrics_table
from lightcli.run.failures import RunClaim, disk_problem, failure_problem, frame_objects
from lightcli.run.profiling import Unprofiled
from lightcli.run.stored import forget as forget_checkpoints
from lightcli.run.stored import read_checkpoint, stored_system_config
from lightcli.upstream.jsonargparse import (
    guard_imports,
    has_link_targets,
    install,
    read_config_files_with,
    shorten_class_lists,
)
from lightcli.upstream.lightning import CLIBase, SectionInstantiator, parsers_only, section_dump
from lightcli.upstream.parse_memo import forget as forget_class_values
from lightcli.upstream.parse_memo import install as remember_class_values
from lightcli.upstream.parse_memo import remembered

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
    if stored is not None:  # declared migrations (lightcli.config.migrations), before the allowlist sees it
        stored, changes = migrate(stored, ("system",))
        report(changes, f"checkpoint {ckpt_path}")
    problems = checkpoint_problems(stored, str(ckpt_path))
    if problems:
        raise ConfigError(problems)
    return stored


def _no_pickle(config: Namespace) -> None:
    """Makes the trainer load a checkpoint with ``weights_only=True`` (no code unpickled), refusing ``false``.

    Raises:
        ConfigError: ``weights_only: false`` was given.
    """
    if "weights_only" not in config:
        return
    if config.get("weights_only") is False:
        fix = "Remove it: lightcli loads every checkpoint with weights_only=True (no code is unpickled)."
        raise ConfigError(Problem("weights_only", "true or null (no pickle)", "false", fix))
    config.weights_only = True


class StrictParser(LightningArgumentParser):
    """The parser of ``lightcli``: a rejected config raises :class:`ParseFailure` instead of printing usage."""

    more_help: Callable[[], str] | None = None
    """Text appended to ``--help`` (the System's keys and the chosen classes' init_args, set by :class:`LightCLI`)."""

    def format_help(self, formatter: Any = None) -> str:
        """jsonargparse's help, followed by :attr:`more_help`."""
        text = super().format_help() if formatter is None else super().format_help(formatter)
        return text + self.more_help() if self.more_help is not None else text

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
                    "class_path": "lightcli.run.loggers.TensorBoardLogger",  # reads no TensorBoard to check
                    "init_args": {"save_dir": "runs", "default_hp_metric": False},
                },
                {"class_path": "pytorch_lightning.loggers.CSVLogger", "init_args": {"save_dir": "runs"}},
            ],
        },
        "parser_class": StrictParser,  # a rejected config raises, so main() can explain it (lightcli.config.explain)
    }


def _class_help(parser_class: type, cls: Any, prefix: str, title: str) -> str:
    """The options of ``cls`` under ``prefix`` with their docstrings, as a help section (no usage line)."""
    parser = parser_class(description=title, add_help=False)
    parser.add_class_arguments(cls, prefix, fail_untyped=False)
    return parser.format_help().split("\n\n", 1)[-1]


def _system_help(parser_class: type, args: list[str]) -> str:
    """The System's keys with their docstrings, then the init_args of each class the config or command line chose."""
    sections = [
        _class_help(
            parser_class, System, "system", "The System (--system.* keys; --system.<key>.help CLASS for a class):"
        )
    ]
    shown: dict[str, str] = {}
    for key, class_path in chosen_classes(args).items():
        if class_path in shown:
            continue
        try:
            cls = resolve_class(class_path)
        except (ConfigError, ImportError, AttributeError):
            continue  # the parse reports it
        if inspect.isclass(cls):
            shown[class_path] = key
            title = f"--system.{key}: {class_path} (its init_args):"
            sections.append(_class_help(parser_class, cls, f"system.{key}.init_args", title))
    return "\n" + "\n".join(sections)


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
        self._collect_after_build = gc.isenabled()
        try:
            with remembered(), _collection_paused(self._collect_after_build):  # resumed once built
                super().__init__(System, args=self._argv, run=run, **_lightning_options())
        except (ConfigError, ParseFailure):
            if self._claim is not None:  # e.g. the first batch of a mode: the parts do not fit together
                self._claim.take_back()
            raise
        except Exception as error:
            if self._claim is None:
                raise
            raise self._failed(error) from error
        except BaseException:  # e.g. Ctrl-C before the run started: an empty claimed folder is removed
            if self._claimed is not None:
                runs.release_run_dir(self._claimed)
            raise

    def _failed(self, error: Exception) -> BaseException:
        """What a run that raised ends with (see :mod:`lightcli.run.failures` for the exit codes).

        In the first batch of the subcommand's mode, and with no checkpoint written: a config error (exit 2) and
        the run folder taken back. Later: a one-line report on stderr, the traceback in the run folder, exit 1.
        """
        assert self._claim is not None
        model, trainer = getattr(self, "model", None), getattr(self, "trainer", None)
        key = component_key(model, trainer, getattr(self, "datamodule", None), frame_objects(error))
        if isinstance(error, FloatingPointError):  # a non-finite loss (System.shared_step)
            key = "system.criterion"
        mode = MODES[self.subcommand][0] if self.subcommand else "train"
        if not (isinstance(model, System) and model.ran_a_step(mode)) and self._claim.take_back():
            return ConfigError(failure_problem(error, key, None))
        problem = failure_problem(error, key, self._claim.run_dir)
        if os.environ.get(TRACEBACK_ENV_VAR):
            traceback.print_exception(error)
        print(f"error: {problem}", file=sys.stderr)
        return SystemExit(1)

    def _prepare(self, args: list[str] | None) -> None:
        """Sets what the parsers and the run read, before LightningCLI builds the parsers."""
        self._argv = with_system_help(list(sys.argv[1:] if args is None else args))
        self._requested = requested_subcommand(self._argv)
        self._resolved_argv = self._argv  # with shared values resolved (parse_arguments)
        self._resume_dir: Path | None = None
        self._run: runs.RunDirectory | None = None
        self._claimed: Path | None = None
        self._claim: RunClaim | None = None
        self._changes: dict[str, tuple[Any, Any]] | None = None  # set when a fit resumes a checkpoint
        # dataclass field docstrings are help text only, and reading them costs seconds: only for help
        set_parsing_settings(docstring_parse_attribute_docstrings=_prints_help(self._argv))
        if _prints_help(self._argv):
            shorten_class_lists()  # a few known subclasses per option, not ~300 (lightcli.upstream.jsonargparse)

    # -- parsers -------------------------------------------------------------------------------------

    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        """Builds a parser that rejects abbreviated options (``--trainer.max_epoch`` is an error)."""
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("description", "Train, validate, test and predict with a typed System from YAML configs.")
        kwargs.setdefault("dump_header", ["lightcli config: run it with `lightcli fit --config <this file>`"])
        install()  # lists of class_path entries parse in linear time (lightcli.upstream.jsonargparse)
        remember_class_values()  # and each nested class_path value is validated once (lightcli.upstream.parse_memo)
        set_dumper("yaml", fast_yaml_dump)  # jsonargparse writes YAML with libyaml (lightcli.config.fastyaml)
        guard_imports(check_import)  # every import path jsonargparse resolves passes the allowlist first
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
                if isinstance(subparser, StrictParser):
                    subparser.more_help = lambda: _system_help(self.parser_class, self._argv)
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
        read_config_files_with(read_migrated)  # each config file read once (config.files), declared migrations applied
        args = self._shared_values(args)  # ${...} resolved: jsonargparse reads the resolved files
        forget_checkpoints()  # each command reads its checkpoint afresh, once
        asked = PROVENANCE_OPTION in args  # print where every value came from instead of running
        args = [a for a in args if a != PROVENANCE_OPTION]
        ckpt_path = _option_value(args, "--ckpt_path")
        stored = _stored_system_config(ckpt_path)
        self.config = parser.parse_args(self._with_stored_system(args, stored))
        if asked:
            print(self._provenance(args, (str(ckpt_path), stored) if stored is not None else None), end="")
            raise SystemExit(0)

    def _provenance(self, args: list[str], checkpoint: tuple[str, Any] | None) -> str:
        """The resolved config with the origin of every value (``--print_config=provenance``)."""
        subcommand = self.config["subcommand"]
        resolved = yaml.safe_load(self.subcommand_parser(subcommand).dump(self.config[subcommand], skip_none=False))
        resolved.pop("config", None)
        sources = read_sources(args[args.index(subcommand) + 1 :])
        owners = {
            "": f"lightcli {subcommand}",
            "trainer": f"{Trainer.__module__.split('.')[0]}.Trainer",
            "trainer.logger": f"lightcli {subcommand}",
            "run": f"{runs.RunOptions.__module__}.RunOptions",
        }
        return provenance(resolved, sources, owners, checkpoint)

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
        _no_pickle(self.config[subcommand])
        if self.config[subcommand].get("run.name") is not None:
            runs.check_run_name(self.config[subcommand].get("run.name"))  # a run stays inside run.root
        ckpt_path = self.config[subcommand].get("ckpt_path")
        applied = _option_value(self._argv, "--ckpt_path") is not None  # by parse_arguments
        if ckpt_path == "last":
            ckpt_path, applied = self._resolve_last(self.config[subcommand]), False
        stored = _stored_system_config(ckpt_path)
        if stored is not None and not applied:
            self.config = self.parser.parse_args(self._with_stored_system(self._resolved_argv, stored))
        self.config[subcommand].ckpt_path = ckpt_path
        if stored is not None and subcommand == "fit":
            self._changes = self._resume_changes(stored, str(ckpt_path))
            check_resume_rules(str(ckpt_path), self._changes)
        _no_pickle(self.config[subcommand])  # the config parsed again with the checkpoint's: still no pickle

    _RESUMED_SECTIONS = ("trainer", "data", "seed_everything")
    """The sections besides ``system`` compared with the config a checkpoint stores (``run`` names the folder)."""

    def _resume_changes(self, stored: dict[str, Any], ckpt_path: str) -> dict[str, tuple[Any, Any]]:
        """``key -> (checkpoint's value, value in force)`` for every value a resumed fit changes, trainer included."""
        current = self.config[self.config["subcommand"]]
        others = None
        stored_run = read_checkpoint(ckpt_path).run_config  # the whole config of a lightcli run, read once
        if stored_run is not None:
            stored_run = migrate(stored_run)[0]  # compared as migrated
            now = section_dump(self, self._RESUMED_SECTIONS)  # only when resuming: one dump of these sections
            others = ({k: stored_run.get(k) for k in now}, now)
        return config_changes(stored, current.system.as_dict(), others)

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
        problems = run_folder_problems(config)  # before lightcli sets them to the run folder
        if problems:
            raise ConfigError(problems)
        files = config.get("config") or []
        if not config.run.name:
            config.run.name = Path(str(files[0])).stem if files else "default"
        run_dir = self._resume_dir or runs.run_dir_from_launcher()
        if run_dir is None and runs.global_rank() > 0:  # started by torchrun/SLURM: rank 0 claims the folder
            run_dir = runs.new_run_dir(config.run.root, config.run.name)
        if run_dir is None:  # created now, exclusively: runs started at the same moment get distinct versions
            try:
                run_dir = self._claimed = runs.claim_run_dir(config.run.root, config.run.name)
            except OSError as error:  # a read-only or full run root: said so, naming run.root
                problem = disk_problem(error, None)
                if problem is None:
                    raise
                raise ConfigError(problem) from error
        self._claim = RunClaim(run_dir, runs.created_by_claim(run_dir))
        runs.share_with_launched_processes(run_dir)
        saved = config.clone()
        saved.ckpt_path = None  # the config reruns the run from the start
        project = loaded_project()
        if project is not None:  # the run's own folder of code, found again by a rerun, a resume, a --ckpt_path
            saved[PROJECT_KEY] = project
        argv = ["--project", project, *self._argv] if project is not None else self._argv
        parser = self.subcommand_parser(self.subcommand)
        text = parser.dump(saved, skip_none=False)
        if not has_link_targets(parser):  # the hyperparameters: this dump's sections, not a dump of their own
            self.config_dump = load_dumped(text)
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
        forget_class_values()  # built: the validated values are not asked for again
        if self._collect_after_build:
            gc.enable()  # paused by _collection_paused while the config was parsed and built
        self.datamodule = self.section(self.config_init, "data")
        self.model = self.section(self.config_init, "system")
        check_optimizers(self.model, self.subcommand)  # a bad lr fails now, not after the run started
        with naming("trainer", "a Trainer"):  # e.g. an accelerator this machine lacks
            self.trainer = self.instantiate_trainer()

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        """Builds the trainer, with lightcli's progress bar unless the progress bar is disabled.

        Adds the run directory's callbacks, checkpoints every epoch to ``<run>/checkpoints`` (with
        ``last.ckpt``) unless a ModelCheckpoint is given, and writes checkpoints atomically. Without a
        ``profiler``, the trainer's is :class:`~lightcli.run.profiling.Unprofiled` (records nothing, as Lightning's).
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
        if config.get("profiler") is None and not config.get("barebones"):
            config["profiler"] = Unprofiled()  # what Lightning's default does (nothing), at a lower cost per hook
        trainer = self.build_trainer(config, callbacks)
        use_atomic_checkpoints(trainer)
        return trainer

    def before_fit(self) -> None:
        """Checks callbacks against the built model (a Freezer's prefixes), and that the weights of a resumed
        checkpoint still fit a model changed on the command line: before the run directory exists."""
        freezers = [c for c in getattr(self.trainer, "callbacks", []) if isinstance(c, Freezer)]  # set at build time
        check_freezers(freezers, self.model)
        if self._changes is not None:  # resuming: the checkpoint's weights must fit the model built now
            check_weights_fit(self.model, self.config[self.subcommand].ckpt_path, self._changes)

    def _weights_fit(self) -> None:
        """Checks that the weights of ``--ckpt_path`` fit the built model: a model of another shape is named by the
        key that changed, before the run folder exists."""
        config = self.config[self.subcommand]
        ckpt = config.get("ckpt_path")
        stored = _stored_system_config(ckpt) if ckpt and Path(str(ckpt)).is_file() else None
        if stored is not None:
            check_weights_fit(self.model, str(ckpt), config_changes(stored, config.system.as_dict()))

    before_validate = before_test = before_predict = _weights_fit

    def after_fit(self) -> None:
        """Prints the final epoch's metrics."""
        if self.trainer.is_global_zero:
            table = metrics_table(self.trainer.callback_metrics, title="final metrics")
            if table:
                print(table)
            best = getattr(self.trainer.checkpoint_callback, "best_model_path", "")
            if best:
                print(f"checkpoint: {best}")


@contextlib.contextmanager
def _collection_paused(resume: bool) -> Iterator[None]:
    """No garbage collection while the config is parsed, checked, dumped and built (re-enabled once built).

    Parsing allocates many short-lived objects and the memo of validated values
    (:mod:`lightcli.upstream.parse_memo`) keeps some alive, so Python's collector ran full collections over
    every object torch and Lightning created at import (about a third of the parse of 1000 nested layers).
    The objects alive now are frozen (never scanned again; they live as long as the process) and collection
    pauses; :meth:`LightCLI.instantiate_classes` resumes it, and so does leaving this block (an error, or
    ``run=False`` before a build), when ``resume`` (collection was on before).
    """
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if resume:
            gc.enable()


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
    with _signals_restored():  # Lightning's SIGTERM handler must not outlive an in-process run
        return run_reported(lambda: LightCLI(args=argv), argv, list(NAMES))


_RUN_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2") if hasattr(signal, name)
)


@contextlib.contextmanager
def _signals_restored() -> Iterator[None]:
    """Puts back the handlers of the signals a run installs handlers for (Lightning, GracefulStop), as they were."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread, where a run installs them
        return
    before = {signum: signal.getsignal(signum) for signum in _RUN_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in before.items():
            if handler is not None and signal.getsignal(signum) is not handler:
                signal.signal(signum, handler)

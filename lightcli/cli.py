"""The Lightning subcommands of ``lightcli``: LightningCLI with a System under the ``system`` key.

Every subcommand is listed in one place, :data:`lightcli.config.commands.COMMANDS`; :mod:`lightcli.commands`
runs the one asked for (``main`` and ``run`` are re-exported here).
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any, Optional

import yaml
from jsonargparse import set_dumper, set_parsing_settings
from pytorch_lightning import LightningDataModule, Trainer
from pytorch_lightning.callbacks import ProgressBar as _LightningProgressBar
from pytorch_lightning.cli import LightningArgumentParser

from lightcli.commands import main, run
from lightcli.config.allowlist import check_import
from lightcli.config.commands import MODES, NAMES, SUBCOMMANDS, TOOLS, requested_subcommand
from lightcli.config.explain import ParseFailure, building, naming, run_reported
from lightcli.config.fastyaml import dump as fast_yaml_dump
from lightcli.config.fastyaml import load_dumped
from lightcli.config.helpargs import option_value, prints_help, with_system_help
from lightcli.config.migrations import read_migrated
from lightcli.config.preflight import no_pickle, version_problems
from lightcli.config.problems import ConfigError
from lightcli.config.project import CONFIG_KEY as PROJECT_KEY
from lightcli.config.project import loaded_project
from lightcli.config.provenance import PROVENANCE_OPTION, provenance
from lightcli.config.sources import read_sources, shared_values
from lightcli.core.blame import component_key
from lightcli.core.freezer import Freezer, check_freezers
from lightcli.core.rules import check_optimizers, run_folder_problems, static_problems
from lightcli.core.system import System
from lightcli.parser import StrictParser, lightning_options, system_help
from lightcli.run import folders as runs
from lightcli.run.checkpoints import (
    check_resume_rules,
    check_weights_fit,
    run_callbacks,
    use_atomic_checkpoints,
)
from lightcli.run.ckptpath import check_ckpt_weights_fit, checked_system_config, resolve_last, resume_changes
from lightcli.run.console import ProgressBar, metrics_table
from lightcli.run.failures import RunClaim, disk_problem, failure_exit, frame_objects
from lightcli.run.process import collection_paused, signals_restored
from lightcli.run.profiling import Unprofiled
from lightcli.run.stored import forget as forget_checkpoints
from lightcli.upstream.import_gate import guard_imports
from lightcli.upstream.jsonargparse import (
    has_link_targets,
    install,
    read_config_files_with,
    shorten_class_lists,
)
from lightcli.upstream.lightning import CLIBase, SectionInstantiator, parsers_only
from lightcli.upstream.parse_memo import forget as forget_class_values
from lightcli.upstream.parse_memo import install as remember_class_values
from lightcli.upstream.parse_memo import remembered

__all__ = ["SUBCOMMANDS", "TOOLS", "LightCLI", "build_parser", "main", "run", "run_lightning"]


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
            with remembered(), collection_paused(self._collect_after_build):  # resumed once built
                super().__init__(System, args=self._argv, run=run, **lightning_options())
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
        """What a run that raised ends with (:func:`lightcli.run.failures.failure_exit`), given the config key of the
        component whose code raised and whether a step of the subcommand's mode was completed."""
        assert self._claim is not None
        model, trainer = getattr(self, "model", None), getattr(self, "trainer", None)
        key = component_key(model, trainer, getattr(self, "datamodule", None), frame_objects(error))
        if isinstance(error, FloatingPointError):  # a non-finite loss (System.shared_step)
            key = "system.criterion"
        mode = MODES[self.subcommand][0] if self.subcommand else "train"
        return failure_exit(error, key, self._claim, isinstance(model, System) and model.ran_a_step(mode))

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
        set_parsing_settings(docstring_parse_attribute_docstrings=prints_help(self._argv))
        if prints_help(self._argv):
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
                    subparser.more_help = lambda: system_help(self.parser_class, System, self._argv)
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
        ckpt_path = option_value(args, "--ckpt_path")
        stored = checked_system_config(ckpt_path)
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
        no_pickle(self.config[subcommand])
        if self.config[subcommand].get("run.name") is not None:
            runs.check_run_name(self.config[subcommand].get("run.name"))  # a run stays inside run.root
        ckpt_path = self.config[subcommand].get("ckpt_path")
        applied = option_value(self._argv, "--ckpt_path") is not None  # by parse_arguments
        if ckpt_path == "last":
            ckpt_path, run_dir = resolve_last(self.config[subcommand])
            applied = False
            if run_dir is not None and self._requested == "fit":
                self._resume_dir = run_dir  # training continues in that run's folder
        stored = checked_system_config(ckpt_path)
        if stored is not None and not applied:
            self.config = self.parser.parse_args(self._with_stored_system(self._resolved_argv, stored))
        self.config[subcommand].ckpt_path = ckpt_path
        if stored is not None and subcommand == "fit":
            self._changes = resume_changes(self, stored, str(ckpt_path))
            check_resume_rules(str(ckpt_path), self._changes)
        no_pickle(self.config[subcommand])  # the config parsed again with the checkpoint's: still no pickle

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
            gc.enable()  # paused by collection_paused while the config was parsed and built
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
            checkpointing = config.get("enable_checkpointing") is not False
            callbacks += run_callbacks(self._run, self._changes, [*given, *callbacks], checkpointing)
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
        check_ckpt_weights_fit(self.model, self.config[self.subcommand])

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


def build_parser(subcommand: str = "fit", root: bool = False) -> LightningArgumentParser:
    """Builds the parser of ``lightcli <subcommand>`` exactly as the CLI does, without parsing or running anything.

    Args:
        subcommand: One of fit, validate, test, predict.
        root: Return the whole ``lightcli`` parser (which takes the subcommand first) instead.
    """
    options = lightning_options()
    cli = LightCLI.__new__(LightCLI)
    cli._prepare([subcommand])
    return parsers_only(cli, System, LightningDataModule, Trainer, options, subcommand, root)


def run_lightning(argv: list[str]) -> int:
    """Runs a Lightning subcommand (``argv`` holds it) with :class:`LightCLI` and returns the exit code.

    Config errors are printed one line each on stderr, with exit code 2 (:func:`lightcli.config.explain.run_reported`).
    """
    with signals_restored():  # Lightning's SIGTERM handler must not outlive an in-process run
        return run_reported(lambda: LightCLI(args=argv), argv, list(NAMES))

"""LightningCLI's internals used by lightcli, in one place: :class:`CLIBase` and :class:`SectionInstantiator`.

Private names used (``tests/test_upstream.py`` fails when one of them changes; outside the checked
versions, :mod:`lightcli.upstream.versions` refuses to run). All are in ``pytorch_lightning/cli.py``:

==================================================  ===============  ======================================
name                                                checked on       lightcli name
==================================================  ===============  ======================================
``LightningCLI._add_subcommands``                   2.5.5 - 2.6.6    :meth:`CLIBase.add_subcommands`
``LightningCLI._subcommand_parsers``                2.5.5 - 2.6.6    :attr:`CLIBase.subcommand_parsers`
``LightningCLI._prepare_subcommand_parser``         2.5.5 - 2.6.6    :meth:`CLIBase.prepare_subcommand_parser`
``LightningCLI._parse_ckpt_path`` (from 2.5.5)      2.5.5 - 2.6.6    :meth:`CLIBase.resolve_checkpoint`
``LightningCLI._add_instantiators``                 2.5.5 - 2.6.6    :meth:`CLIBase.add_instantiators`
``LightningCLI._instantiate_trainer``               2.5.5 - 2.6.6    :meth:`CLIBase.build_trainer`
``LightningCLI._parser``                            2.5.5 - 2.6.6    :meth:`CLIBase.subcommand_parser`
``LightningCLI._get``                               2.5.5 - 2.6.6    :meth:`CLIBase.section`
``LightningCLI._run_subcommand``                    2.5.5 - 2.6.6    :meth:`CLIBase.run_subcommand`
``LightningCLI._dump_config`` (keeps a             2.5.5 - 2.6.6    :class:`SectionInstantiator`
``config_dump`` already set)
``_InstantiatorFn`` (``applied_instantiation_links``)  2.5.5 - 2.6.6  :class:`SectionInstantiator`
``"_class_path"``, ``"_instantiator"`` (the keys    2.5.5 - 2.6.6    ``lightning_core.CLASS_PATH_KEY``,
of the stored hyperparameters)                                      ``lightning_core.INSTANTIATOR_KEY``
``LightningCLI._setup_parser_kwargs``,              2.5.5 - 2.6.6    :func:`parsers_only`
``_model_class``, ``_datamodule_class`` (what
``__init__`` sets before ``setup_parser``)
==================================================  ===============  ======================================

The System's own Lightning internals are in :mod:`lightcli.upstream.lightning_core` (this module
imports ``pytorch_lightning.cli``, which ``import lightcli`` does not need).

Lightning 2.4 has neither ``_parse_ckpt_path`` nor ``applied_instantiation_links``, and 2.5.0 to 2.5.4
lack ``_parse_ckpt_path``: with them, ``ckpt_path: last`` would silently do nothing, hence the lower bound.
"""

from __future__ import annotations

from typing import Any

import yaml
from jsonargparse import Namespace
from pytorch_lightning import Trainer
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, _InstantiatorFn

__all__ = [
    "CLIBase",
    "SectionInstantiator",
    "parsers_only",
    "section_dump",
]


class CLIBase(LightningCLI):
    """LightningCLI whose private hooks call public-named methods, so subclasses use no private name.

    Each private method LightningCLI calls is overridden here to call the public-named method
    that a subclass overrides; each public-named method defaults to LightningCLI's own behaviour.
    """

    # -- LightningCLI's private hooks, delegating to the public names below ----------------------------

    def _add_subcommands(self, parser: LightningArgumentParser, **kwargs: Any) -> None:
        self._subcommand_parsers: dict[str, LightningArgumentParser] = {}
        self.add_subcommands(parser, **kwargs)

    def _parse_ckpt_path(self) -> None:
        self.resolve_checkpoint()

    def _add_instantiators(self) -> None:
        self.add_instantiators()

    def _run_subcommand(self, subcommand: str) -> None:
        self.run_subcommand(subcommand)

    # -- the public names -----------------------------------------------------------------------------

    def add_subcommands(self, parser: LightningArgumentParser, **kwargs: Any) -> None:
        """Adds the subcommands to the main parser, registering each one's parser in :attr:`subcommand_parsers`.

        Args:
            parser: The main parser.
            kwargs: The keyword arguments of each subcommand's parser, by subcommand name.
        """
        LightningCLI._add_subcommands(self, parser, **kwargs)

    @property
    def subcommand_parsers(self) -> dict[str, LightningArgumentParser]:
        """The parser of each subcommand, by name (filled by :meth:`add_subcommands`)."""
        return self._subcommand_parsers

    def prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> LightningArgumentParser:
        """Builds the full parser of a subcommand: the core arguments and those of ``klass.<subcommand>``.

        Args:
            klass: The trainer class whose method the subcommand runs.
            subcommand: The subcommand's name.
            kwargs: Passed to :meth:`init_parser`.
        """
        return self._prepare_subcommand_parser(klass, subcommand, **kwargs)

    def resolve_checkpoint(self) -> None:
        """Called right after parsing: reads the hyperparameters of a given ``ckpt_path`` into the config."""
        LightningCLI._parse_ckpt_path(self)

    def add_instantiators(self) -> None:
        """Registers the instantiators that store a module's config as its hyperparameters."""
        LightningCLI._add_instantiators(self)

    def run_subcommand(self, subcommand: str) -> None:
        """Runs ``before_<subcommand>``, the trainer's ``<subcommand>`` and ``after_<subcommand>``."""
        LightningCLI._run_subcommand(self, subcommand)

    def subcommand_parser(self, subcommand: str | None) -> LightningArgumentParser:
        """The parser of a subcommand (the main parser when ``subcommand`` is None)."""
        return self._parser(subcommand)

    def section(self, config: Namespace, key: str, default: Any = None) -> Any:
        """The value of ``key`` in ``config``, inside the running subcommand's section when there is one."""
        return self._get(config, key, default)

    def build_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> Trainer:
        """Builds the trainer from its config, adding ``callbacks`` to those of the config."""
        return self._instantiate_trainer(config, callbacks)


class SectionInstantiator(_InstantiatorFn):
    """LightningCLI's instantiator of the module (or datamodule) whose hyperparameters are its config.

    The same hyperparameters as LightningCLI's, but taken from a dump of the ``system`` and ``data``
    sections only (values already checked by the parse) instead of a checked dump of everything.

    Args:
        cli: The running CLI.
        key: The config key of the section this instantiator builds (``system`` or ``data``).
    """

    _SECTIONS = ("system", "data")

    def __init__(self, cli: CLIBase, key: str) -> None:
        super().__init__(cli, key)

    def __call__(self, class_type: type, *args: Any, applied_instantiation_links: dict, **kwargs: Any) -> Any:
        """Builds ``class_type`` with its config as hyperparameters (see LightningCLI's ``_InstantiatorFn``)."""
        if not hasattr(self.cli, "config_dump"):  # LightningCLI's _dump_config then keeps it
            self.cli.config_dump = section_dump(self.cli, self._SECTIONS)  # type: ignore[arg-type]
        return super().__call__(class_type, *args, applied_instantiation_links=applied_instantiation_links, **kwargs)


def section_dump(cli: CLIBase, keys: tuple[str, ...]) -> dict[str, Any]:
    """The config of the running subcommand restricted to ``keys``, dumped like LightningCLI's ``_dump_config``."""
    subcommand = cli.config.get("subcommand")
    parser = cli.subcommand_parser(subcommand)
    config = cli.config[subcommand] if subcommand else cli.config
    partial = Namespace()
    for key in keys:
        if key in config:
            partial[key] = config[key]
    text = parser.dump(partial, skip_validation=True, skip_link_targets=False, skip_none=False, format="yaml")
    return yaml.safe_load(text) or {}


def parsers_only(
    cli: LightningCLI,
    model_class: type,
    datamodule_class: type,
    trainer_class: type,
    options: dict[str, Any],
    subcommand: str,
    root: bool,
) -> Any:
    """Builds the parsers of a LightningCLI that was created without running ``__init__`` (nothing is parsed or run).

    Sets what ``LightningCLI.__init__`` sets before it builds its parsers (``options`` are the keyword arguments
    it would be given), then calls its ``setup_parser``. Returns the root parser, or the one of ``subcommand``.
    """
    cli.save_config_callback, cli.save_config_kwargs = options["save_config_callback"], {}
    cli.trainer_class, cli.trainer_defaults = trainer_class, options["trainer_defaults"]
    cli.seed_everything_default, cli.parser_kwargs, cli.parser_class = True, {}, options["parser_class"]
    cli.auto_configure_optimizers = options["auto_configure_optimizers"]
    cli.model_class = cli._model_class = model_class
    cli.subclass_mode_model = options["subclass_mode_model"]
    cli.datamodule_class, cli._datamodule_class, cli.subclass_mode_data = None, datamodule_class, True
    cli.setup_parser(True, *cli._setup_parser_kwargs(cli.parser_kwargs))
    return cli.parser if root else cli._subcommand_parsers[subcommand]

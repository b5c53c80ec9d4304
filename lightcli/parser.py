"""The parser of the Lightning subcommands, :class:`StrictParser`, what it is built with, and its ``--help``.

- :class:`StrictParser` raises :class:`~lightcli.config.explain.ParseFailure` on a rejected config (explained key by
  key by :mod:`lightcli.config.explain`) and appends a text to its help.
- :func:`lightning_options`: what :class:`lightcli.cli.LightCLI` gives LightningCLI to build its parsers with (this
  parser class, the trainer's default loggers...).
- :func:`system_help`: what the requested subcommand's help appends, the System's keys with their docstrings and
  the init_args of each class the config or the command line chose.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NoReturn

from pytorch_lightning.cli import LightningArgumentParser

from lightcli.config.classpaths import resolve_class
from lightcli.config.explain import ParseFailure
from lightcli.config.helpargs import chosen_classes
from lightcli.config.problems import ConfigError

__all__ = ["StrictParser", "lightning_options", "system_help"]


class StrictParser(LightningArgumentParser):
    """The parser of ``lightcli``: a rejected config raises :class:`ParseFailure` instead of printing usage."""

    more_help: Callable[[], str] | None = None
    """Text appended to ``--help`` (the System's keys and the chosen classes' init_args, set by
    :class:`lightcli.cli.LightCLI`)."""

    def format_help(self, formatter: Any = None) -> str:
        """jsonargparse's help, followed by :attr:`more_help`."""
        text = super().format_help() if formatter is None else super().format_help(formatter)
        return text + self.more_help() if self.more_help is not None else text

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        """Raises :class:`ParseFailure` (jsonargparse's own nested parsers keep raising ``ArgumentError``)."""
        if not self.exit_on_error:
            super().error(message, ex)
        raise ParseFailure(message, ex, self)


def lightning_options() -> dict[str, Any]:
    """What :class:`lightcli.cli.LightCLI` gives LightningCLI besides the System, the arguments and ``run``.

    LightningCLI builds its parsers from them, and so does :func:`lightcli.cli.build_parser` (without running).
    """
    return {
        "subclass_mode_model": True,
        "auto_configure_optimizers": False,  # the System configures its own optimizer
        "save_config_callback": None,  # lightcli.run.folders.RunDirectory saves the config, once, whatever the loggers
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


def system_help(parser_class: type, system: type, args: list[str]) -> str:
    """The System's keys with their docstrings, then the init_args of each class the config or command line chose.

    Args:
        parser_class: The class of the parser that renders each section.
        system: The System class (:class:`lightcli.System`), whose arguments are the ``--system.*`` keys.
        args: The command line, whose ``--config`` files and ``--system.*`` values choose the classes.
    """
    sections = [
        _class_help(
            parser_class, system, "system", "The System (--system.* keys; --system.<key>.help CLASS for a class):"
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

"""Lightning's private names used by lightcli, in one place.

Checked on pytorch-lightning 2.5.5 to 2.6.6.
"""

from __future__ import annotations

from typing import Any

import yaml
from jsonargparse import Namespace
from pytorch_lightning.cli import LightningCLI, _InstantiatorFn

__all__ = ["SectionInstantiator", "section_dump"]


class SectionInstantiator(_InstantiatorFn):
    """LightningCLI's instantiator of the module (or datamodule) whose hyperparameters are its config.

    The same hyperparameters as LightningCLI's, but taken from a dump of the ``system`` and ``data``
    sections only (values already checked by the parse) instead of a checked dump of everything.

    Args:
        cli: The running CLI.
        key: The config key of the section this instantiator builds (``system`` or ``data``).
    """

    _SECTIONS = ("system", "data")

    def __init__(self, cli: LightningCLI, key: str) -> None:
        super().__init__(cli, key)

    def __call__(self, class_type: type, *args: Any, applied_instantiation_links: dict, **kwargs: Any) -> Any:
        """Builds ``class_type`` with its config as hyperparameters (see LightningCLI's ``_InstantiatorFn``)."""
        if not hasattr(self.cli, "config_dump"):
            self.cli.config_dump = section_dump(self.cli, self._SECTIONS)
        return super().__call__(class_type, *args, applied_instantiation_links=applied_instantiation_links, **kwargs)


def section_dump(cli: LightningCLI, keys: tuple[str, ...]) -> dict[str, Any]:
    """The config of the running subcommand restricted to ``keys``, dumped like LightningCLI's ``_dump_config``."""
    subcommand = cli.config.get("subcommand")
    parser = cli._parser(subcommand)
    config = cli.config[subcommand] if subcommand else cli.config
    partial = Namespace()
    for key in keys:
        if key in config:
            partial[key] = config[key]
    text = parser.dump(partial, skip_validation=True, skip_link_targets=False, skip_none=False, format="yaml")
    return yaml.safe_load(text) or {}

"""Lightning internals used by the System, without ``pytorch_lightning.cli`` (``import lightcli`` stays light).

Private names used (``tests/test_upstream.py`` fails when one of them changes; outside the checked
versions, :mod:`lightcli.upstream.versions` refuses to run):

=========================================  ==================================================  =============  =========================
name                                       where upstream                                      checked on     lightcli function
=========================================  ==================================================  =============  =========================
``_given_hyperparameters`` (a ContextVar)  ``pytorch_lightning/core/mixins/hparams_mixin.py``  2.5.5 - 2.6.6  :func:`built_from_config`
``LightningModule._trainer``               ``pytorch_lightning/core/module.py``                2.5.5 - 2.6.6  :func:`attached_trainer`
``"_class_path"``, ``"_instantiator"``       hyperparameter keys of ``pytorch_lightning/cli.py``  2.5.5 - 2.6.6  :data:`CLASS_PATH_KEY` ...
=========================================  ==================================================  =============  =========================
"""

from __future__ import annotations

from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.core.mixins.hparams_mixin import _given_hyperparameters

__all__ = ["CLASS_PATH_KEY", "INSTANTIATOR_KEY", "attached_trainer", "built_from_config"]

CLASS_PATH_KEY = "_class_path"
"""The hyperparameter under which LightningCLI's instantiator stores a module's class_path."""
INSTANTIATOR_KEY = "_instantiator"
"""The hyperparameter under which Lightning stores the function that rebuilds a module from its hyperparameters."""


def built_from_config() -> bool:
    """Whether the module being built right now is built by a LightningCLI instantiator from its config.

    Called in ``__init__``: then ``save_hyperparameters()`` stores that config, so ``load_from_checkpoint``
    can rebuild the module.
    """
    return _given_hyperparameters.get() is not None


def attached_trainer(module: LightningModule) -> Trainer | None:
    """The trainer a module is attached to, or None (``module.trainer`` raises when there is none)."""
    trainer: Trainer | None = module._trainer
    return trainer

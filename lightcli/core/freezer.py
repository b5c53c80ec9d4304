"""The Freezer: keeps chosen parameters of the model fixed until a step or an epoch, then trains them."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from torch import nn

from lightcli.config.problems import ConfigError, Problem
from lightcli.core.params import canonical, matches_prefix, select

__all__ = ["Freezer", "check_freezers"]

_KEY = "trainer.callbacks.Freezer"


class Freezer(Callback):
    """Freezes parameters of ``system.model`` by name and by module prefix, then unfreezes them.

    Names are those of ``system.model`` (``model.named_parameters()``), e.g. ``backbone.0.weight``;
    the ``model.`` that Lightning's model summary prints in front is accepted too. A prefix is a module
    name: ``backbone`` freezes ``backbone.0.weight`` but not ``backbone2.weight``. A name or prefix that
    matches nothing is an error when training starts.

    Frozen parameters get no gradient, so the optimizer leaves them (and their optimizer state) untouched;
    once unfrozen, they train with the learning rate of their parameter group. Under DDP (several
    processes) the gradients are computed and dropped instead, so that unfrozen parameters stay in sync.
    BatchNorm running statistics of frozen modules still update (the modules stay in train mode).

    Args:
        names: Exact parameter names to freeze, e.g. ``head.bias``.
        prefixes: Module names to freeze entirely, e.g. ``backbone``.
        except_names: Parameter names to keep training although a prefix chose them.
        except_prefixes: Module names to keep training although a prefix chose them, e.g. ``backbone.norm``.
        until_step: Unfreeze once this many optimizer steps are done (the global step). Give this or
            ``until_epoch``, not both; with neither, the parameters stay frozen for the whole run.
        until_epoch: Unfreeze at the start of this epoch (0-based: 2 trains epochs 0 and 1 frozen).

    Names and prefixes may be given as numbers for ``nn.Sequential`` models (``prefixes: [0, 1]``).
    """

    def __init__(
        self,
        names: list[str | int] | None = None,
        prefixes: list[str | int] | None = None,
        except_names: list[str | int] | None = None,
        except_prefixes: list[str | int] | None = None,
        *,
        until_step: int | None = None,
        until_epoch: int | None = None,
    ) -> None:
        if until_step is not None and until_epoch is not None:
            got = f"both (until_step={until_step}, until_epoch={until_epoch})"
            raise ConfigError(Problem(f"{_KEY}.until_step, until_epoch", "one of them", got, "Remove one."))
        for option, value in (("until_step", until_step), ("until_epoch", until_epoch)):
            if value is not None and value < 0:
                raise ConfigError(Problem(f"{_KEY}.{option}", "0 or more", str(value), "Use a count from 0."))
        if not names and not prefixes:
            fix = "Set prefixes (module names, e.g. [backbone]) or names (parameter names)."
            raise ConfigError(Problem(f"{_KEY}.names, prefixes", "what to freeze", "neither", fix))
        self.names = [str(v) for v in names or []]
        self.prefixes = [str(v) for v in prefixes or []]
        self.except_names = [str(v) for v in except_names or []]
        self.except_prefixes = [str(v) for v in except_prefixes or []]
        self.until_step = until_step
        self.until_epoch = until_epoch
        self.frozen: dict[str, nn.Parameter] = {}
        """The frozen parameters (name relative to the model -> parameter); empty once unfrozen."""
        self._drop_grads = False
        self._resolved: list[str] = []

    def _choose(self, model: nn.Module) -> dict[str, nn.Parameter]:
        chosen = select(model, _KEY, self.names, self.prefixes)
        kept = select(model, _KEY, self.except_names, self.except_prefixes, ("except_names", "except_prefixes"))
        params = dict(model.named_parameters())
        self._resolved = [canonical(p, params, prefix=True) or p for p in self.prefixes]
        return {name: p for name, p in chosen.items() if name not in kept}

    def check(self, pl_module: pl.LightningModule) -> None:
        """Raises the config error of a name or prefix that matches no parameter, before anything runs."""
        self._choose(getattr(pl_module, "model", pl_module))

    def _is_over(self, trainer: pl.Trainer) -> bool:
        if self.until_step is not None:
            return trainer.global_step >= self.until_step
        if self.until_epoch is not None:
            return trainer.current_epoch >= self.until_epoch
        return False

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Freezes the chosen parameters before training starts (and before DDP wraps the model)."""
        if stage != "fit":
            return
        model = getattr(pl_module, "model", pl_module)
        self.frozen = self._choose(model)
        if self._is_over(trainer):  # resuming past the point of unfreezing
            self.frozen = {}
            return
        # DDP registers only parameters that require grad: keep them registered, drop their gradients instead
        self._drop_grads = trainer.world_size > 1
        for param in self.frozen.values():
            param.requires_grad_(self._drop_grads)
        if trainer.is_global_zero:
            print(self._report("froze"))

    def _report(self, verb: str) -> str:
        values = sum(p.numel() for p in self.frozen.values())
        until = (
            f"until step {self.until_step}"
            if self.until_step is not None
            else f"until epoch {self.until_epoch}"
            if self.until_epoch is not None
            else "for the whole run"
        )
        if verb == "unfroze":
            until = "now training"
        shown = _summarize(list(self.frozen), self._resolved)
        return f"Freezer: {verb} {_count(len(self.frozen), 'parameter tensor')} ({values:,} values) {until}: {shown}"

    def _unfreeze_if_over(self, trainer: pl.Trainer) -> None:
        if not self.frozen or not self._is_over(trainer):
            return
        for param in self.frozen.values():
            param.requires_grad_(True)
        if trainer.is_global_zero:
            at = f"step {trainer.global_step}" if self.until_step is not None else f"epoch {trainer.current_epoch}"
            print(self._report("unfroze").replace("now training", f"at {at}"))
        self.frozen = {}
        self._drop_grads = False

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Unfreezes at the start of epoch ``until_epoch``."""
        self._unfreeze_if_over(trainer)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Unfreezes once ``until_step`` optimizer steps are done."""
        self._unfreeze_if_over(trainer)

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any) -> None:
        """Under DDP, drops the gradients of frozen parameters so the optimizer skips them."""
        if self._drop_grads:
            for param in self.frozen.values():
                param.grad = None


def _until(freezer: Freezer) -> str:
    if freezer.until_step is not None:
        return f"until_step {freezer.until_step}"
    return f"until_epoch {freezer.until_epoch}" if freezer.until_epoch is not None else "the whole run"


def check_freezers(freezers: list[Freezer], pl_module: pl.LightningModule) -> None:
    """Checks each Freezer's names and prefixes, and that no parameter is given to two Freezers of different
    schedules (the first to unfreeze would release the other's parameters too).

    Raises:
        ConfigError: naming the Freezers' key, the shared parameters and both schedules.
    """
    chosen: list[tuple[Freezer, set[str]]] = []
    model = getattr(pl_module, "model", pl_module)
    for freezer in freezers:
        freezer.check(pl_module)
        mine = set(freezer._choose(model))
        for other, theirs in chosen:
            shared = sorted(mine & theirs)
            if shared and _until(other) != _until(freezer):
                names = ", ".join(shared[:3]) + (", ..." if len(shared) > 3 else "")
                raise ConfigError(
                    Problem(
                        _KEY,
                        "Freezers that freeze different parameters",
                        f"{names} frozen by two Freezers ({_until(other)} and {_until(freezer)})",
                        "Give each parameter to one Freezer (except_prefixes on the broader one).",
                    )
                )
        chosen.append((freezer, mine))


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _summarize(names: list[str], prefixes: list[str], most: int = 8) -> str:
    """The frozen names; many are shortened to the configured prefixes that hold them (``backbone.* (24)``)."""
    if len(names) <= most:
        return ", ".join(names)
    shown: list[str] = []
    rest = list(names)
    for prefix in prefixes:
        inside = [n for n in rest if matches_prefix(n, prefix)]
        if inside:
            shown.append(f"{prefix + '.*' if prefix else '*'} ({len(inside)})")
            rest = [n for n in rest if n not in inside]
    return ", ".join(shown + rest)

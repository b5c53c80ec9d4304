"""The System: a LightningModule assembled from typed parts given in YAML."""

from __future__ import annotations

import contextlib
import copy
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.utils.data import DataLoader
from torchmetrics import Metric, MetricCollection

from lightcli.config.problems import ConfigError, Problem
from lightcli.config.project import missing_project, project_for_checkpoint
from lightcli.core import steps
from lightcli.core.adapters import ModeAdapters
from lightcli.core.loading import CheckedLoading
from lightcli.core.optim import ParamGroup, build_optimizer, build_param_groups
from lightcli.core.parts import DataLoaders, Metrics, MetricsArg, Mode, Scheduler
from lightcli.core.required import criterion_required, loader_required, monitor_required, optimizer_required
from lightcli.core.steplog import LoggedSteps
from lightcli.core.weights import Weights, load_and_report
from lightcli.upstream.lightning_core import built_from_config

__all__ = ["DataLoaders", "Metrics", "Mode", "Scheduler", "System"]


_LOSS_MODES: tuple[Mode, ...] = ("train", "val", "test")


def _named_metrics(metrics: MetricsArg) -> MetricCollection | None:
    if metrics is None:
        return None
    if isinstance(metrics, Metric):
        metrics = [metrics]
    return MetricCollection(metrics, compute_groups=False)  # type: ignore[arg-type]


def _batch_size(value: Any) -> int:
    if isinstance(value, torch.Tensor) and value.ndim > 0:
        return value.shape[0]
    if isinstance(value, (list, tuple)):
        return len(value)
    return 1


def _detach(value: Any) -> Any:
    return value.detach() if isinstance(value, torch.Tensor) else value


class System(CheckedLoading, LoggedSteps):
    """Trains, validates, tests and predicts with a model, a criterion, an optimizer and data from a config.

    Args:
        model: The network (any ``torch.nn.Module``).
        criterion: The loss: a module (``torch.nn.CrossEntropyLoss``) or a function. It may return a
            dict of losses with a ``total`` key. Not needed for test or predict.
        optimizer: The optimizer class_path and its init_args; the parameters are passed in.
        scheduler: An optional learning-rate scheduler and when to step it.
        dataloaders: The data of each mode, built only when the mode runs. Leave empty with ``--data``.
        metrics: Metrics per mode (train, val, test).
        adapters: Per mode: where input/target/identifier are in a batch, how the criterion and
            metrics are called, and what callbacks receive.
        inferer: Called as ``inferer(input, system)`` instead of the plain forward in val, test and
            predict (e.g. a sliding-window inferer).
        weights: Pretrained weights loaded into the model (or a sub-module) when the system is built.
        param_groups: Optimizer parameter groups by module name, each with its own options (e.g. a
            lower ``lr`` for the backbone); the other parameters use the optimizer's options.
        stop_on_nan: Stop the run when a training loss is NaN or infinite (exit code 1, naming the step, the
            epoch and the loss part; the last good checkpoint stays). False trains on.
    """

    def __init__(
        self,
        model: nn.Module,
        criterion: Callable[..., Any] | None = None,
        optimizer: Callable[[Iterable], Optimizer] | None = None,
        scheduler: Scheduler | None = None,
        dataloaders: DataLoaders | None = None,
        metrics: Metrics | None = None,
        adapters: ModeAdapters | None = None,
        inferer: Callable[[Any, nn.Module], Any] | None = None,
        weights: Weights | None = None,
        param_groups: list[ParamGroup] | None = None,
        stop_on_nan: bool = True,
    ) -> None:
        super().__init__(stop_on_nan=stop_on_nan)
        if built_from_config():
            # built from a config: the hyperparameters are that config, so load_from_checkpoint can rebuild it
            self.save_hyperparameters()
        self.model = model
        load_and_report(model, weights)
        self.param_groups = param_groups or []
        if self.param_groups:
            # a prefix that matches nothing fails now (an option the optimizer lacks: core.rules.check_optimizers)
            build_param_groups(model, self.param_groups)
        self.prebuilt_optimizers: tuple[Optimizer, Any] | None = None  # built by check_optimizers: used once
        self.criterion = criterion
        self.optimizer_factory = optimizer
        self.scheduler = scheduler
        self.dataloaders = dataloaders or DataLoaders()
        self.adapters = adapters or ModeAdapters()
        self.inferer = inferer
        seen: set[int] = set()
        for mode in _LOSS_MODES:
            given = getattr(metrics, mode) if metrics is not None else None
            if given is not None and id(given) in seen:
                given = copy.deepcopy(given)  # each mode keeps its own state
            seen.add(id(given))
            setattr(self, f"{mode}_metrics", _named_metrics(given))
        accepted = inspect.signature(model.forward).parameters
        self._forward_epoch = "epoch" in accepted
        self._forward_step = "step" in accepted
        self._problems: list[Problem] | None = None  # recording instead of raising (collecting_problems)
        self._proven: set[str] = set()  # the modes that ran a step without failing

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, project: str | None = None, **kwargs: Any) -> Any:
        """Lightning's ``load_from_checkpoint``; a project run's own code is imported first.

        Args:
            checkpoint_path: The checkpoint file.
            project: The folder imported as ``project`` (``class_path: project.models.MyNet``); by default the
                one the checkpoint's run folder recorded in its ``config.yaml``.
            args: Passed on to Lightning's ``load_from_checkpoint`` (``map_location``, ...).
            kwargs: Passed on too.
        """
        project_for_checkpoint(checkpoint_path, project)
        try:
            return super().load_from_checkpoint(checkpoint_path, *args, **kwargs)
        except Exception as error:
            missing = missing_project(error)
            if missing is None:
                raise
            raise missing from None

    def forward(self, input: Any) -> Any:
        """Runs the model, passing ``epoch`` and ``step`` when its forward accepts them."""
        kwargs = {}
        if self._forward_epoch:
            kwargs["epoch"] = self.current_epoch
        if self._forward_step:
            kwargs["step"] = self.global_step
        return self.model(input, **kwargs)

    def ran_a_step(self, mode: str) -> bool:
        """Whether a step of ``mode`` has run without failing: what fails after it is not a misfit of the parts."""
        return mode in self._proven

    # -- steps ---------------------------------------------------------------------------------------

    def shared_step(self, batch: Any, mode: Mode) -> dict[str, Any]:
        """Runs one step of a mode and returns what callbacks receive.

        Override ``training_step`` (custom backward, manual optimization) and call this to keep
        adapters, loss, metrics and logging.

        Returns:
            A dict with ``identifier``, ``input``, ``target``, ``pred``, ``loss`` (the total loss,
            None in predict) and ``metrics`` (this batch's metric values when computed, else None).

        Raises:
            ConfigError: on the first step of a mode, naming the part that failed (the batch adapter, the
                model or inferer, the criterion adapter, the criterion, the metrics adapter or a metric) and
                what it was given: the parts do not fit together. Once a step of the mode has run, a failure
                is the code of a part failing on some data, and its own exception is raised as it is.
        """
        adapters = getattr(self.adapters, mode)
        try:
            input, target, identifier = adapters.batch(batch)
        except Exception as error:
            self._pass_on(mode, error)
            raise steps.batch_failed(error, mode, batch) from error
        inferer = mode != "train" and self.inferer is not None
        try:
            pred = self.inferer(input, self) if inferer else self(input)  # type: ignore[misc]
        except steps.PASSED_ON:
            raise
        except Exception as error:
            self._pass_on(mode, error)
            raise steps.forward_failed(error, mode, input, inferer) from error
        loss: torch.Tensor | None = None
        step_metrics: dict[str, torch.Tensor] | None = None
        target_out, pred_out = _detach(target), _detach(pred)
        if mode != "predict":
            logging_step = mode == "train" and self.is_logging_step()
            loss = self._loss(mode, adapters, input, target, pred, logging_step)
            step_metrics = self._update_metrics(mode, adapters, input, target_out, pred_out, logging_step)
        logged_input, logged_target, logged_pred = adapters.logging(input, target_out, pred_out)
        if self._problems is None:
            self._proven.add(mode)
        return {
            "identifier": identifier,
            "input": logged_input,
            "target": logged_target,
            "pred": logged_pred,
            "loss": loss,
            "metrics": step_metrics,
        }

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        """One training step: forward, loss, metrics; Lightning does the backward and optimizer step."""
        return self.shared_step(batch, "train")

    # Lightning reads this signature before every training step (inspect.getfullargspec, to pass batch_idx): the
    # same signature, stored, spares parsing the function each time. A subclass's own training_step is read as usual.
    training_step.__signature__ = inspect.signature(training_step)  # type: ignore[attr-defined]

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        """One validation step."""
        return self.shared_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        """One test step."""
        return self.shared_step(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        """One prediction step; no criterion or metrics run."""
        return self.shared_step(batch, "predict")

    @contextlib.contextmanager
    def collecting_problems(self) -> Iterator[list[Problem]]:
        """Within it, a failing criterion, metrics adapter or metric of :meth:`shared_step` is recorded in the
        yielded list instead of raised, so that one step reports each (``lightcli check --run``)."""
        self._problems = []
        try:
            yield self._problems
        finally:
            self._problems = None

    def _pass_on(self, mode: str, cause: BaseException) -> None:
        """Raises ``cause`` as it is when a step of ``mode`` has run before (then it is not a misfit of the parts)."""
        if mode in self._proven:
            raise cause

    def _failed(self, error: ConfigError, cause: BaseException) -> None:
        if self._problems is None:
            raise error from cause
        self._problems.extend(error.problems)

    def _loss(
        self, mode: str, adapters: Any, input: Any, target: Any, pred: Any, logging_step: bool
    ) -> torch.Tensor | None:
        if self.criterion is None:
            if mode == "train":
                raise ConfigError(criterion_required())
            return None
        try:
            args, kwargs = adapters.criterion.arguments(input, target, pred)
        except Exception as error:
            self._pass_on(mode, error)
            self._failed(steps.criterion_adapter_failed(error, mode), error)
            return None
        try:
            value = self.criterion(*args, **kwargs)
        except steps.PASSED_ON:
            raise
        except Exception as error:
            self._pass_on(mode, error)
            self._failed(steps.criterion_failed(error, mode, pred, target), error)
            return None
        losses = value if isinstance(value, dict) else {"loss": value}
        if isinstance(value, dict):
            if "total" not in value:
                expected = "a tensor or a dict with a 'total' key"
                got = f"a dict with keys {sorted(value)}"
                raise ConfigError(
                    Problem("system.criterion", expected, got, "Return the loss to optimize under 'total'.")
                )
            losses = {"loss": value["total"], **{f"loss/{k}": v for k, v in value.items() if k != "total"}}
        self.add_losses(mode, losses, _batch_size(input), logging_step)
        return losses["loss"]

    def _update_metrics(
        self, mode: str, adapters: Any, input: Any, target: Any, pred: Any, logging_step: bool
    ) -> dict[str, torch.Tensor] | None:
        """Updates the metrics of ``mode`` with a step's detached ``target`` and ``pred``; on a logging step, returns
        the values computed on this batch too."""
        collection = self.metrics_of(mode)
        if collection is None:
            return None
        try:
            args, kwargs = adapters.metrics.arguments(input, target, pred)
        except Exception as error:
            self._pass_on(mode, error)
            self._failed(steps.metrics_adapter_failed(error, mode), error)
            return None
        try:
            if logging_step:
                values = collection(*args, **kwargs)  # batch values, computed once, and the epoch state updated
                self.keep_step_metrics(values)
                return values
            collection.update(*args, **kwargs)
        except Exception as error:
            self._pass_on(mode, error)
            items = collection.items(keep_base=True)
            self._failed(steps.metrics_failed(error, mode, items, (args, kwargs), pred, target), error)
        return None

    # -- optimization and data -----------------------------------------------------------------------

    def configure_optimizers(self) -> Any:
        """Builds the optimizer from ``optimizer`` (with ``param_groups``) and, if given, the scheduler."""
        if self.optimizer_factory is None:
            raise ConfigError(optimizer_required())
        optimizer, scheduler = self._prebuilt() or (
            build_optimizer(self.optimizer_factory, self.model, self.param_groups, self.parameters()),
            None,
        )
        if self.scheduler is None:
            return optimizer
        if scheduler is None:
            scheduler = self.scheduler.scheduler(optimizer)
        config: dict[str, Any] = {
            "scheduler": scheduler,
            "interval": self.scheduler.interval,
            "frequency": self.scheduler.frequency,
            "strict": self.scheduler.strict,
        }
        monitor = self.scheduler.monitor or getattr(scheduler, "monitor", None)
        if monitor:
            config["monitor"] = monitor
        elif isinstance(scheduler, ReduceLROnPlateau):
            raise ConfigError(monitor_required())
        return {"optimizer": optimizer, "lr_scheduler": config}

    def _prebuilt(self) -> tuple[Optimizer, Any] | None:
        """What :func:`~lightcli.core.rules.check_optimizers` built, once, if still over these parameters."""
        prebuilt, self.prebuilt_optimizers = self.prebuilt_optimizers, None
        if prebuilt is None:
            return None
        built_over = {id(p) for group in prebuilt[0].param_groups for p in group["params"]}
        return prebuilt if built_over == {id(p) for p in self.parameters()} else None

    def build_dataloader(self, mode: str, required: bool = True) -> Any:
        """Builds the loader of ``mode`` from ``dataloaders``; without one, ``[]`` unless ``required``.

        Raises:
            ConfigError: naming ``system.dataloaders.<mode>`` when it is missing or fails to build.
        """
        factory = getattr(self.dataloaders, mode)
        if factory is None:
            if not required:
                return []
            raise ConfigError(loader_required(mode))
        if isinstance(factory, DataLoader):  # a function returning a DataLoader, given with its init_args
            return factory
        try:
            return factory()
        except ConfigError:
            raise
        except Exception as error:
            got = f"{type(error).__name__}: {error}"
            fix = "Check its dataset's init_args (paths first)."
            raise ConfigError(
                Problem(f"system.dataloaders.{mode}", f"a {mode} loader that builds", got, fix)
            ) from error

    def train_dataloader(self) -> Any:
        """Builds the training loader."""
        return self.build_dataloader("train")

    def val_dataloader(self) -> Any:
        """Builds the validation loader; without one, fit runs no validation."""
        return self.build_dataloader("val", required=self.trainer.state.fn == "validate")

    def test_dataloader(self) -> Any:
        """Builds the test loader."""
        return self.build_dataloader("test")

    def predict_dataloader(self) -> Any:
        """Builds the prediction loader."""
        return self.build_dataloader("predict")

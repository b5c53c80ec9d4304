"""The trainer's profiler when none is asked for: Lightning's no-op profiler, at a lower cost per hook call.

Lightning wraps every hook, strategy and callback call in ``with trainer.profiler.profile(name)`` (about 80 per
training step of a System with lightcli's callbacks). Its default :class:`~pytorch_lightning.profilers.PassThroughProfiler`
records nothing, yet each of those calls builds a generator-based context manager (``contextlib.contextmanager``,
about 1.4 µs). :class:`Unprofiled` records nothing either and returns one shared context manager that does nothing.
"""

from __future__ import annotations

from types import TracebackType

from pytorch_lightning.profilers import PassThroughProfiler

__all__ = ["Unprofiled"]


class _Nothing:
    """A context manager that does nothing (``contextlib.nullcontext`` without its per-call object)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        return None


_NOTHING = _Nothing()


class Unprofiled(PassThroughProfiler):
    """Lightning's :class:`~pytorch_lightning.profilers.PassThroughProfiler` (records nothing), with a ``profile``
    context that costs one attribute lookup: the profiler lightcli gives a trainer whose ``profiler`` is null."""

    def profile(self, action_name: str) -> _Nothing:  # type: ignore[override]
        """A context manager that does nothing (the action is not recorded)."""
        return _NOTHING

"""What a command changes in its Python process while it runs, and puts back: garbage collection and signal handlers.

- :func:`collection_paused`: no garbage collection while the config is parsed and built.
- :func:`signals_restored`: the handlers of the signals a run installs handlers for (Lightning, GracefulStop), put
  back as they were once an in-process run ends.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
from collections.abc import Iterator

__all__ = ["collection_paused", "signals_restored"]


@contextlib.contextmanager
def collection_paused(resume: bool) -> Iterator[None]:
    """No garbage collection while the config is parsed, checked, dumped and built (re-enabled once built).

    Parsing allocates many short-lived objects and the memo of validated values
    (:mod:`lightcli.upstream.parse_memo`) keeps some alive, so Python's collector ran full collections over
    every object torch and Lightning created at import (about a third of the parse of 1000 nested layers).
    The objects alive now are frozen (never scanned again; they live as long as the process) and collection
    pauses; :meth:`lightcli.cli.LightCLI.instantiate_classes` resumes it, and so does leaving this block (an
    error, or ``run=False`` before a build), when ``resume`` (collection was on before).
    """
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if resume:
            gc.enable()


_RUN_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2") if hasattr(signal, name)
)


@contextlib.contextmanager
def signals_restored() -> Iterator[None]:
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

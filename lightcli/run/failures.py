"""What a failed run leaves: one short report, the full traceback in the run folder, no half-made folder.

Exit codes of ``fit``, ``validate``, ``test`` and ``predict``:

- ``2``: a config error, found before the run or in the first batch of a mode (the parts do not fit together).
  The run folder this command created is removed (unless it already holds a checkpoint).
- ``1``: an error during the run (user code raising in epoch 2, a non-finite loss). The report names the
  component's config key, the user's own frame (``file:line``) and the exception; the full traceback is
  written to ``<run folder>/traceback.txt`` (and printed with ``LIGHTCLI_TRACEBACK=1``). The run folder and
  its last good checkpoint stay.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import sysconfig
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from lightcli.config.problems import TRACEBACK_ENV_VAR, ConfigError, Problem, raised

__all__ = [
    "TRACEBACK_FILE",
    "RunClaim",
    "disk_problem",
    "failure_exit",
    "failure_problem",
    "frame_objects",
    "user_frame",
]

TRACEBACK_FILE = "traceback.txt"
"""The file in the run folder that holds the full traceback of a run that failed."""

_PACKAGE = str(Path(__file__).resolve().parents[1])
_LIBRARIES = tuple(
    {str(Path(p).resolve()) for p in (sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib"))}
)


class RunClaim:
    """The run folder of one command and those of its parents this command creates (so it can take them back).

    Args:
        run_dir: The run folder (``<root>/<name>/version_<n>``).
        created: The folders this command created for it, the run folder first (as claimed by
            :func:`lightcli.run.folders.claim_run_dir`); when None, those of ``run_dir`` and its two parents that do
            not exist yet.
    """

    def __init__(self, run_dir: Path, created: list[Path] | None = None) -> None:
        self.run_dir = run_dir
        if created is None:
            created = [p for p in (run_dir, run_dir.parent, run_dir.parent.parent) if not p.exists()]
        self.created = created

    def take_back(self) -> bool:
        """Removes what this command created, unless a checkpoint was written into it; returns whether it did."""
        if self.run_dir not in self.created or any(self.run_dir.rglob("*.ckpt")):
            return False
        for path in self.created:  # the run folder first, then the parents it was the only content of
            with contextlib.suppress(OSError):
                if path == self.run_dir:
                    shutil.rmtree(path)
                else:
                    path.rmdir()
        return True


def _tracebacks(error: BaseException) -> list[TracebackType]:
    """The tracebacks of an exception and of its causes, innermost cause first."""
    found: list[TracebackType] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.__traceback__ is not None:
            found.insert(0, current.__traceback__)
        current = current.__cause__ or current.__context__
    return found


def _frames(error: BaseException) -> list[tuple[Any, str, int]]:
    """``(frame, file, line)`` of every frame of an exception (and its causes), innermost first."""
    frames: list[tuple[Any, str, int]] = []
    for tb in _tracebacks(error):
        walked: list[tuple[Any, str, int]] = []
        node: TracebackType | None = tb
        while node is not None:
            walked.append((node.tb_frame, node.tb_frame.f_code.co_filename, node.tb_lineno))
            node = node.tb_next
        frames += reversed(walked)
    return frames


def frame_objects(error: BaseException) -> list[Any]:
    """The ``self`` of each method in the traceback of an exception, innermost first."""
    return [frame.f_locals["self"] for frame, _, _ in _frames(error) if "self" in frame.f_locals]


def user_frame(error: BaseException) -> str | None:
    """``file:line`` of the innermost frame in the user's own code (not lightcli's, the libraries' or Python's)."""
    for _, file, line in _frames(error):
        resolved = str(Path(file).resolve()) if not file.startswith("<") else file
        if file.startswith("<") or resolved.startswith((_PACKAGE, *_LIBRARIES)):
            continue
        with contextlib.suppress(ValueError):
            resolved = os.path.relpath(resolved)
        return f"{resolved}:{line}"
    return None


_DISK = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk full (quota exceeded)",
    errno.EROFS: "read-only file system",
    errno.EACCES: "read-only for this user (permission denied)",
    errno.EPERM: "read-only for this user (operation not permitted)",
}


def disk_problem(error: BaseException, run_dir: Path | None) -> Problem | None:
    """The problem of a run that could not write its files (disk full, read-only), found in an exception's chain."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _DISK:
            where = current.filename or run_dir or "the run folder"
            if ".partial-" in os.fspath(where):  # an atomic checkpoint write (lightcli.run.checkpoints)
                where = Path(os.fspath(where)).parent
            return Problem(
                "run.root",
                "a folder the run can write to",
                f"{os.path.abspath(os.fspath(where))}: {_DISK[current.errno]}",
                "Free some space there, or give another --run.root."
                if current.errno in (errno.ENOSPC, errno.EDQUOT)
                else "Make it writable, or give another --run.root.",
            )
        current = current.__cause__ or current.__context__
    return None


def failure_problem(error: BaseException, key: str | None, run_dir: Path | None) -> Problem:
    """The one-line report of a run that failed; writes the full traceback to the run folder when it exists.

    Args:
        error: What was raised.
        key: The config key of the component whose code raised, if known.
        run_dir: The run folder, if the run has one (and it should keep the traceback).
    """
    disk = disk_problem(error, run_dir)
    if disk is not None:
        return disk
    where = user_frame(error)
    got = raised(error) + (f" (at {where})" if where else "")
    text = "".join(traceback.format_exception(error))
    saved = None
    if run_dir is not None and run_dir.is_dir():
        with contextlib.suppress(OSError):
            (run_dir / TRACEBACK_FILE).write_text(text)
            saved = run_dir / TRACEBACK_FILE
    fix = f"The full traceback is in {saved}." if saved else f"{TRACEBACK_ENV_VAR}=1 shows the traceback."
    return Problem(key or "the run", "", got, fix)


def failure_exit(error: Exception, key: str | None, claim: RunClaim, ran_a_step: bool) -> BaseException:
    """What a run that raised ends with: the exception its command raises instead (the exit codes above).

    In the first batch of the subcommand's mode, and with no checkpoint written: a config error (exit 2) and
    the run folder taken back. Later: a one-line report on stderr, the traceback in the run folder, exit 1.

    Args:
        error: What the run raised.
        key: The config key of the component whose code raised, if known.
        claim: The run folder of the command.
        ran_a_step: Whether a step of the subcommand's first mode was completed.
    """
    if not ran_a_step and claim.take_back():
        return ConfigError(failure_problem(error, key, None))
    problem = failure_problem(error, key, claim.run_dir)
    if os.environ.get(TRACEBACK_ENV_VAR):
        traceback.print_exception(error)
    print(f"error: {problem}", file=sys.stderr)
    return SystemExit(1)

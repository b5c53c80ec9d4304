"""Where the study of ``lightcli sweep`` lives, and the lock that lets its workers start trials one at a time.

``--storage`` takes:

- nothing: SQLite in ``<sweep dir>/study.db``, for the workers of one machine;
- ``postgresql://user:password@host:port/db`` (or another SQLAlchemy URL Optuna supports, e.g. ``mysql://``):
  a database server shared by any number of machines;
- ``journal:<file>``: Optuna's journal file, for machines that share a file system but no database server
  (SQLite on a network file system locks up or corrupts).

Workers take a lock while they start a trial, so that the study never holds more trials than asked: a file lock
on one machine (SQLite), a PostgreSQL advisory lock held by the database, or a lock file next to the journal.
On a database (SQLite included), every running trial sends a heartbeat: a trial whose worker died (SIGKILL,
a lost machine) is marked failed once its heartbeat stops, and the same values are tried again.
"""

from __future__ import annotations

import fcntl
import importlib.util
import inspect
import time
import zlib
from pathlib import Path
from typing import Any

from lightcli.config.problems import ConfigError, Problem

__all__ = ["Lock", "open_storage"]

_EXPECTED = "an Optuna storage: sqlite:///<file>, postgresql://<user>@<host>:<port>/<db> or journal:<file>"


class Lock:
    """An exclusive lock on a file (``flock``): the workers of one machine take turns to start trials."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("a+")
        self.held = False

    def acquire(self) -> None:
        """Waits until this worker holds the lock."""
        self._take()
        self.held = True

    def release(self) -> None:
        """Lets the other workers take the lock (nothing when not held)."""
        if self.held:
            self._give()
            self.held = False

    def close(self) -> None:
        """Releases the lock for good."""
        self.release()
        self.file.close()

    def _take(self) -> None:
        fcntl.flock(self.file, fcntl.LOCK_EX)

    def _give(self) -> None:
        fcntl.flock(self.file, fcntl.LOCK_UN)


class _PostgresLock(Lock):
    """A PostgreSQL advisory lock named after the study: the workers of every machine take turns.

    The database releases it when the worker's connection ends, so a killed worker never keeps it.
    """

    def __init__(self, engine: Any, study_name: str) -> None:
        self.connection = engine.connect()
        self.key = zlib.crc32(study_name.encode())
        self.held = False

    def _take(self) -> None:
        self._run("SELECT pg_advisory_lock(:key)")

    def _give(self) -> None:
        self._run("SELECT pg_advisory_unlock(:key)")

    def _run(self, statement: str) -> None:
        from sqlalchemy import text

        self.connection.execute(text(statement), {"key": self.key})
        self.connection.commit()

    def close(self) -> None:
        """Releases the lock and closes the connection."""
        self.release()
        self.connection.close()


class _FileOpenLock(Lock):
    """Optuna's lock file next to a journal (created exclusively, also safe on NFS)."""

    def __init__(self, path: Path) -> None:
        from optuna.storages.journal import JournalFileOpenLock

        self.lock = JournalFileOpenLock(str(path), grace_period=30)
        self.held = False

    def _take(self) -> None:
        self.lock.acquire()

    def _give(self) -> None:
        self.lock.release()

    def close(self) -> None:
        """Releases the lock."""
        self.release()


def _refused(url: str, why: str) -> ConfigError:
    return ConfigError(
        Problem("--storage", _EXPECTED, f"{url!r} ({why})", "Check the URL, the server and its credentials.")
    )


def _journal(path: str, study_name: str) -> tuple[Any, Lock]:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if not path:
        raise _refused("journal:", "no file after journal:")
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(file)))
    return storage, _FileOpenLock(file.with_name(f"{file.name}.{study_name}.lock"))


def retry_callback() -> tuple[Any, str]:
    """Optuna's callback that runs a dead worker's trial again, and the RDBStorage argument that takes it."""
    import optuna

    stale = "heartbeat_stale_trial_callback"  # Optuna >= 4.9 (before: failed_trial_callback)
    if stale in inspect.signature(optuna.storages.RDBStorage).parameters:
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=None), stale
    return optuna.storages.RetryFailedTrialCallback(max_retry=None), "failed_trial_callback"


def _with_driver(url: str) -> str:
    """``postgresql://`` through the driver that is installed (SQLAlchemy 2.1 means psycopg 3; lightcli[postgres]
    installs psycopg2)."""
    scheme, rest = url.split("://", 1)
    psycopg2 = importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None
    if scheme in ("postgresql", "postgres") and psycopg2:
        return f"postgresql+psycopg2://{rest}"
    return url


_CREATE_ATTEMPTS = 5
"""Tries to open a database storage whose tables another worker is creating at the same moment."""


def _created_meanwhile(error: Exception) -> bool:
    """Whether opening a storage failed because another process created its tables at the same moment."""
    text = str(error)
    return type(error).__name__ == "IntegrityError" or "already exists" in text


def open_storage(url: str | None, sweep_dir: Path, study_name: str, heartbeat: int) -> tuple[Any, Lock]:
    """The Optuna storage ``--storage`` names (SQLite in the sweep directory by default) and the workers' lock.

    Args:
        url: The ``--storage`` value, or None for ``<sweep_dir>/study.db``.
        sweep_dir: The sweep directory (it exists).
        study_name: The study's name (PostgreSQL's lock is per study).
        heartbeat: Seconds between the heartbeats of a running trial on a database; a trial whose heartbeat
            stopped for twice as long is failed and tried again.

    Raises:
        ConfigError: The URL is not a storage, or the database cannot be reached.
    """
    import optuna

    if url is not None and url.startswith("journal:"):
        return _journal(url.removeprefix("journal:"), study_name)
    url = url or f"sqlite:///{(sweep_dir / 'study.db').resolve()}"
    if "://" not in url:
        raise _refused(url, "not a URL")
    url = _with_driver(url)
    retry, callback = retry_callback()
    engine = {"connect_args": {"timeout": 300}} if url.startswith("sqlite") else None
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs=engine, heartbeat_interval=heartbeat, grace_period=2 * heartbeat, **{callback: retry}
            )
            break
        except Exception as error:  # a driver that is missing, a server that does not answer, bad credentials
            if attempt + 1 < _CREATE_ATTEMPTS and _created_meanwhile(error):
                time.sleep(0.2 * (attempt + 1))  # another worker created the tables at the same moment: use them
                continue
            raise _refused(url, f"{type(error).__name__}: {str(error).strip().splitlines()[0][:200]}") from None
    if url.startswith(("postgresql", "postgres")):
        return storage, _PostgresLock(storage.engine, study_name)
    return storage, Lock(sweep_dir / ".lock")

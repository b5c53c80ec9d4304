"""The versions of the libraries whose internals lightcli uses, and a check that the installed ones were checked.

lightcli relies on private names of jsonargparse and Lightning (listed in
:mod:`lightcli.upstream.jsonargparse`, :mod:`lightcli.upstream.lightning` and
:mod:`lightcli.upstream.lightning_core`). Outside the ranges below they may be missing or behave
differently, which would silently change what a config does (with Lightning 2.4,
``ckpt_path: last`` does nothing). :func:`unchecked_versions` finds installed versions outside
them; :class:`lightcli.cli.LightCLI` refuses to run with one, naming the range to install.
It reads the installed versions with ``importlib.metadata`` (no import of the libraries).

The ranges match ``pyproject.toml``; the lower ends are what ``.ci/lowest.txt`` tests.
"""

from __future__ import annotations

import re
from importlib import metadata

__all__ = ["CHECKED", "REPORTED", "installed_versions", "unchecked_versions"]

CHECKED: dict[str, tuple[str, str]] = {
    "pytorch-lightning": ("2.5.5", "2.7"),
    "jsonargparse": ("4.53.0", "4.54"),
    "torchmetrics": ("1.5.0", "2"),
}
"""Distribution name -> (lowest checked version, first version not checked), as ``>=low,<high``.

The lower ends, found by running the tests at them: Lightning 2.5.5 added ``LightningCLI._parse_ckpt_path``
(before it ``ckpt_path: last`` was silently ignored); jsonargparse before 4.51 dumped a dict of metrics
as a ``torchmetrics.Metric`` class_path into the checkpoint's hyperparameters (a resume then failed) and
before 4.46 refused a nested value given on the command line; torchmetrics 1.5 added
``torchmetrics.shape``, listed by ``lightcli schema``. The upper ends: the newest minor versions checked
(jsonargparse's internals change in minor releases).
"""


REPORTED: tuple[str, ...] = ("lightcli", "torch", "pytorch-lightning", "jsonargparse", "torchmetrics")
"""The distributions ``lightcli --version`` reports, lightcli first."""


def installed_versions() -> dict[str, str | None]:
    """The installed version of each :data:`REPORTED` distribution (None when it is not installed), read from
    ``importlib.metadata`` without importing any of them."""
    return {name: _installed(name) for name in REPORTED}


def _release(version: str) -> tuple[int, ...]:
    """The release numbers of a version (``2.5.1.post0`` -> ``(2, 5, 1)``, ``2.6.0rc1`` -> ``(2, 6, 0)``)."""
    numbers = []
    for part in version.split("."):
        match = re.match(r"\d+", part)
        if match is None:
            break
        numbers.append(int(match.group()))
        if match.end() != len(part):
            break
    return tuple(numbers)


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def unchecked_versions() -> list[tuple[str, str, str]]:
    """The installed libraries outside the versions lightcli was checked on.

    Returns:
        ``(name, installed version, checked range)`` for each, e.g.
        ``("jsonargparse", "4.54.0", ">=4.40.0,<4.54")``; empty when all are within range (a library
        that is not installed is left to its import error).
    """
    found = []
    for name, (low, high) in CHECKED.items():
        version = _installed(name)
        if version is None:
            continue
        if not _release(low) <= _release(version) < _release(high):
            found.append((name, version, f">={low},<{high}"))
    return found

"""The public API: an explicit ``__all__``, and importing lightcli changes nothing global."""

from __future__ import annotations

import subprocess
import sys

import lightcli
from conftest import subprocess_env

PROBE = """
import logging, os, sys, warnings
import torch, pytorch_lightning  # third-party import-time effects are not ours
env, path, filters = dict(os.environ), list(sys.path), list(warnings.filters)
root = (logging.getLogger().level, list(logging.getLogger().handlers))
levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
import lightcli
assert dict(os.environ) == env, set(os.environ.items()) ^ set(env.items())
assert sys.path == path
assert warnings.filters == filters
assert (logging.getLogger().level, list(logging.getLogger().handlers)) == root
assert {n: logging.getLogger(n).level for n in levels} == levels
print("clean")
"""


def test_every_public_name_is_exported_and_importable() -> None:
    assert len(lightcli.__all__) == len(set(lightcli.__all__))
    for name in lightcli.__all__:
        assert getattr(lightcli, name) is not None, name
    assert "System" in lightcli.__all__ and "Loader" in lightcli.__all__


def test_import_has_no_side_effects() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=subprocess_env(), check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "clean"

"""YAML written and read back by lightcli itself, with libyaml when PyYAML has it (about 10x faster).

jsonargparse dumps a config as YAML at every nesting level of a class_path value (each ``init_args`` is
dumped, then loaded back) and once more for the whole config; PyYAML's ``safe_dump`` and ``safe_load`` are
pure Python. A checked dump of a config with 1000 nested layers spent about a third of its time there.

Only text that lightcli or jsonargparse wrote goes through here: user config files are still read with
PyYAML's pure-Python loader (:mod:`lightcli.config.safeyaml`), whose error messages (line and column) lightcli quotes. libyaml writes the same
YAML as PyYAML for configs; the one difference seen is where a long quoted string with line breaks is
wrapped (both read back to the same string).
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["DUMP_OPTIONS", "dump", "load_dumped"]

DUMP_OPTIONS: dict[str, Any] = {"default_flow_style": False, "allow_unicode": True, "sort_keys": False}
"""How jsonargparse writes YAML (its ``dump_yaml_kwargs``): block style, unicode kept, keys in order."""

_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def dump(data: Any) -> str:
    """``data`` as YAML the way jsonargparse writes it (the ``yaml`` dumper lightcli's parsers use)."""
    return str(yaml.dump(data, Dumper=_DUMPER, **DUMP_OPTIONS))


def load_dumped(text: str) -> Any:
    """Reads back YAML that :func:`dump` (or jsonargparse) wrote: safe types only."""
    return yaml.load(text, Loader=_LOADER)

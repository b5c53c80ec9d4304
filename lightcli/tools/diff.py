"""``lightcli diff RUN_A RUN_B``: the config keys whose values differ between two runs or two config files.

A run directory is compared through the ``config.yaml`` saved in it (the fully resolved config), so
two runs of ``lightcli fit`` show every value that differed, defaults included.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightcli.config.preflight import preflight
from lightcli.config.problems import ConfigError, Problem

__all__ = [
    "Difference",
    "config_differences",
    "cut",
    "flatten",
    "grid",
    "main",
    "read_config",
    "readable",
    "resolve_config",
    "show",
]

CONFIG_FILE = "config.yaml"
_MISSING = object()


@dataclass(frozen=True)
class Difference:
    """A config key whose value differs between two configs."""

    key: str
    """The dotted key, as given on the command line (``system.optimizer.init_args.lr``)."""
    a: Any
    """The value in the first config (``None`` when the key is absent; see ``in_a``)."""
    b: Any
    """The value in the second config (``None`` when the key is absent; see ``in_b``)."""
    in_a: bool = True
    """Whether the first config has the key."""
    in_b: bool = True
    """Whether the second config has the key."""


def read_config(path: str | Path) -> Any:
    """Reads a YAML config the way lightcli does (``1e-3`` is a float, as in YAML 1.2)."""
    from jsonargparse import get_loader

    return get_loader("yaml")(Path(path).read_text(encoding="utf-8"))


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """Maps each leaf of a nested config to its dotted key.

    Mappings are walked into; a list of mappings (e.g. ``trainer.callbacks``) is walked with the
    index in brackets (``trainer.callbacks[0].init_args.monitor``); other lists are leaves.
    """
    if isinstance(config, dict) and config:
        flat: dict[str, Any] = {}
        for key, value in config.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(config, list) and config and all(isinstance(item, dict) for item in config):
        flat = {}
        for i, item in enumerate(config):
            flat.update(flatten(item, f"{prefix}[{i}]"))
        return flat
    return {prefix: config}


def config_differences(a: Any, b: Any, ignore: list[str] | tuple[str, ...] = ()) -> list[Difference]:
    """The keys whose values differ between two configs, in the order they appear (first config first).

    Args:
        a: The first config (nested mappings).
        b: The second config.
        ignore: Keys to leave out; a key also hides everything under it.
    """
    flat_a, flat_b = flatten(a), flatten(b)
    keys = list(flat_a) + [k for k in flat_b if k not in flat_a]
    found = []
    for key in keys:
        if any(key == i or key.startswith((i + ".", i + "[")) for i in ignore):
            continue
        value_a, value_b = flat_a.get(key, _MISSING), flat_b.get(key, _MISSING)
        if value_a is _MISSING or value_b is _MISSING or not _same(value_a, value_b):
            found.append(
                Difference(
                    key,
                    None if value_a is _MISSING else value_a,
                    None if value_b is _MISSING else value_b,
                    in_a=value_a is not _MISSING,
                    in_b=value_b is not _MISSING,
                )
            )
    return found


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _config_file(given: str, name: str) -> Path:
    path = Path(given)
    fix = "Give a run directory (e.g. runs/digits/version_0) or a YAML config file."
    if path.is_dir():
        if (path / CONFIG_FILE).is_file():
            return path / CONFIG_FILE
        runs = sorted(p.parent for p in path.glob(f"**/{CONFIG_FILE}"))
        if len(runs) == 1:
            return runs[0] / CONFIG_FILE
        if runs:
            listed = ", ".join(str(r) for r in runs[:4]) + (", ..." if len(runs) > 4 else "")
            got = f"{given!r}, which holds {len(runs)} runs ({listed})"
            raise ConfigError(Problem(name, "one run directory", got, "Give one of them."))
        raise ConfigError(Problem(name, f"a run directory holding {CONFIG_FILE}", f"{given!r} (it has none)", fix))
    if not path.is_file():
        raise ConfigError(Problem(name, "a run directory or a config file", f"{given!r} (not found)", fix))
    return path


def _load(given: str, name: str) -> tuple[Path, dict[str, Any]]:
    path = _config_file(given, name)
    try:
        config = read_config(path)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        got = f"{str(path)!r}, which does not parse ({first})"
        raise ConfigError(Problem(name, "a YAML config", got, "Fix its YAML syntax.")) from None
    if not isinstance(config, dict):
        got = f"{str(path)!r} holding a {type(config).__name__}"
        fix = "Give a config file of `key: value` lines."
        raise ConfigError(Problem(name, "a YAML mapping of config keys", got, fix))
    return path, config


def resolve_config(path: str | Path, subcommand: str = "fit") -> dict[str, Any]:
    """The full config that ``lightcli <subcommand> --config <path>`` would run: defaults filled in.

    Only this needs the parser (and so torch and Lightning): two runs' saved configs are complete already.

    Raises:
        ValueError: The config does not parse (the message is jsonargparse's).
    """
    import yaml
    from jsonargparse import ArgumentError

    from lightcli.cli import build_parser  # torch and Lightning: only to fill in defaults, never for two runs

    parser = build_parser(subcommand)
    parser.exit_on_error = False
    try:
        parsed = parser.parse_args(["--config", str(path)])
    except ArgumentError as error:
        raise ValueError(str(error)) from None
    return dict(yaml.safe_load(parser.dump(parsed, skip_none=False, skip_check=True)))


def readable(key: str) -> str:
    """``system.init_args.model...`` (as saved) is written ``system.model...`` (as in configs and overrides)."""
    return "system." + key[len("system.init_args.") :] if key.startswith("system.init_args.") else key


def show(value: Any, present: bool = True) -> str:
    if not present:
        return "(not set)"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _label(path: Path) -> str:
    return str(path.parent if path.name == CONFIG_FILE else path)


def cut(text: str, width: int = 60) -> str:
    """``text``, shortened to ``width`` characters with ``...`` when longer."""
    return text if len(text) <= width else text[: width - 3] + "..."


def grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A text table: a header row and rows of cells, columns separated by ``|``, ruled above and below."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = "-" * (sum(widths) + 3 * len(widths) + 1)
    show = lambda row: "  " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line, show(header), line, *(show(row) for row in rows), line])


def table(differences: list[Difference], label_a: str, label_b: str, width: int = 60) -> str:
    """Formats the differences as a three-column text table (key, first value, second value)."""
    rows = [(d.key, cut(show(d.a, d.in_a), width), cut(show(d.b, d.in_b), width)) for d in differences]
    return grid(("key", label_a, label_b), rows)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lightcli diff",
        description="Show the config keys whose values differ between two run directories or config files.",
        allow_abbrev=False,
    )
    parser.add_argument("run_a", metavar="RUN_A", help="a run directory (with config.yaml) or a config file")
    parser.add_argument("run_b", metavar="RUN_B", help="another run directory or config file")
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="KEY",
        help="leave out this key and everything under it (repeatable), e.g. --ignore trainer.logger",
    )
    parser.add_argument(
        "--as-written",
        action="store_true",
        help="compare config files as written, without filling in defaults (run directories are always complete)",
    )
    parser.add_argument("--exit-code", action="store_true", help="exit with 1 when the configs differ (like git diff)")
    return parser


def main(args: list[str]) -> int:
    """Runs ``lightcli diff`` with its arguments and returns the exit code (2 on bad input)."""
    try:
        options = _parser().parse_args(args)
    except SystemExit as exit:  # --help, or a usage error argparse has printed
        return exit.code if isinstance(exit.code, int) else 0
    try:
        path_a, config_a = _load(options.run_a, "RUN_A")
        path_b, config_b = _load(options.run_b, "RUN_B")
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    if not options.as_written and not (path_a.name == CONFIG_FILE and path_b.name == CONFIG_FILE):
        try:  # the parser imports the classes the configs name: the allowlist first
            for path in (path_a, path_b):
                preflight(["fit", "--config", str(path)], ["fit"])
        except ConfigError as error:
            print(error, file=sys.stderr)
            return 2
        try:  # a hand-written config against a run's: compare what would run, defaults included
            config_a, config_b = resolve_config(path_a), resolve_config(path_b)
        except ValueError as error:
            first = str(error).strip().splitlines()[0]
            print(f"note: comparing the files as written, one is not a complete config ({first})", file=sys.stderr)
    config_a = {readable(k): v for k, v in flatten(config_a).items()}
    config_b = {readable(k): v for k, v in flatten(config_b).items()}
    differences = config_differences(config_a, config_b, options.ignore)
    label_a, label_b = _label(path_a), _label(path_b)
    if label_a == label_b:
        label_a, label_b = str(path_a), str(path_b)
    if not differences:
        print(f"no differences between {label_a} and {label_b}")
        return 0
    count = "1 key differs" if len(differences) == 1 else f"{len(differences)} keys differ"
    print(f"{count} between {label_a} and {label_b}:")
    print(table(differences, label_a, label_b))
    return 1 if options.exit_code else 0

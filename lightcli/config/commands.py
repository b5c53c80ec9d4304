"""Every subcommand of ``lightcli``, visible in one place: :data:`COMMANDS`.

Every other list of subcommands (the parser's subcommands, ``--help``, completion, ``check``, the
preflight checks, the schema's choices) is derived from this table. Nothing here imports torch or
Lightning, so the ``lightcli`` command can dispatch a tool without them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "COMMANDS",
    "LIGHTNING_TARGET",
    "MODES",
    "NAMES",
    "SUBCOMMANDS",
    "TOOLS",
    "Command",
    "requested_subcommand",
]

LIGHTNING_TARGET = "lightcli.cli:run_lightning"
"""The ``module:function`` that runs the Lightning subcommands (and ``lightcli`` without a subcommand)."""


@dataclass(frozen=True)
class Command:
    """A subcommand of ``lightcli``."""

    name: str
    """What the user types after ``lightcli``."""
    help: str
    """Its one-line help, shown by ``lightcli --help`` and the shell completion."""
    modes: tuple[str, ...] = ()
    """The modes a Lightning subcommand runs, in order (empty for a tool)."""
    target: str = LIGHTNING_TARGET
    """The ``module:function`` that runs it: a tool's takes the arguments after its name and returns an exit code."""


COMMANDS: tuple[Command, ...] = (
    Command("fit", "Train the system (and validate it each epoch when val data is given).", ("train", "val")),
    Command("validate", "Run one evaluation epoch on the val data.", ("val",)),
    Command("test", "Run one evaluation epoch on the test data.", ("test",)),
    Command("predict", "Run inference on the predict data.", ("predict",)),
    Command(
        "schema",
        "Write the JSON Schema of configs, for YAML editors (autocompletion, checks).",
        target="lightcli.tools.schema:main",
    ),
    Command("completion", "Print the bash or zsh completion script.", target="lightcli.tools.completion:main"),
    Command("sweep", "Search hyperparameters with Optuna over dotted config keys.", target="lightcli.tools.sweep:main"),
    Command(
        "submit",
        "Run a command as a batch job (SLURM or this machine) with submitit; requeued into the same run.",
        target="lightcli.tools.submit:main",
    ),
    Command(
        "diff",
        "Show the config keys that differ between two runs or config files.",
        target="lightcli.tools.diff:main",
    ),
    Command(
        "convert",
        "Translate a Lighter or Hydra config (_target_) into class_path + init_args: convert old.yaml > new.yaml.",
        target="lightcli.tools.convert:main",
    ),
    Command(
        "compare",
        "Show runs side by side: differing config keys, final and best metrics, learning curves (--plot).",
        target="lightcli.tools.compare:main",
    ),
    Command(
        "check",
        "Check a config without training: every error at once (--run: one batch per mode).",
        target="lightcli.tools.check:main",
    ),
    Command(
        "migrate",
        "Print a config file with the declared migrations (moved classes, renamed arguments) applied.",
        target="lightcli.tools.migrate:main",
    ),
)
"""Every subcommand of ``lightcli``, visible in one place, in the order ``--help`` lists them.

The four Lightning subcommands (with the modes each runs) are run by :class:`lightcli.cli.LightCLI`; the
tools are imported only when run, so ``lightcli --help`` stays fast.
"""

SUBCOMMANDS: dict[str, str] = {c.name: c.help for c in COMMANDS if c.modes}
"""The Lightning subcommands with their one-line help (fit, validate, test, predict)."""

TOOLS: dict[str, tuple[str, str]] = {c.name: (c.target, c.help) for c in COMMANDS if not c.modes}
"""The other subcommands: name -> (``module:function``, help)."""

MODES: dict[str, tuple[str, ...]] = {c.name: c.modes for c in COMMANDS if c.modes}
"""The modes each Lightning subcommand runs, in order."""

NAMES: tuple[str, ...] = tuple(c.name for c in COMMANDS)
"""Every subcommand name."""


def requested_subcommand(args: list[str]) -> str | None:
    """The first argument that names a subcommand, else None."""
    for arg in args:
        if arg in NAMES:
            return arg
    return None

"""``lightcli migrate old.yaml > new.yaml``: a config file with every declared migration applied.

The migrations are those of :mod:`lightcli.config.migrations` (lightcli's own, and those declared in
``lightcli_migrations.py`` in the working folder). The file is changed in place in its text, so comments, key
order and layout are kept; each change is reported on stderr, the upgraded file goes to stdout.
"""

from __future__ import annotations

import argparse
import sys

from lightcli.config import files, migrations
from lightcli.config.files import read_text
from lightcli.config.problems import ConfigError
from lightcli.config.safeyaml import load_marked

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Prints the migrated config file to stdout and the changes to stderr; exit code 2 for a file it cannot read."""
    parser = argparse.ArgumentParser(
        prog="lightcli migrate",
        description="Print a config file with the declared migrations (moved classes, renamed arguments) applied.",
    )
    parser.add_argument("config", help="The YAML config file to upgrade.")
    args = parser.parse_args(argv)
    files.forget()
    migrations.forget()
    try:
        content, lines, problem = load_marked(args.config, "config")
        if problem is not None:
            raise ConfigError(problem)
        changes = migrations.migrate(content)[1]
    except ConfigError as error:
        for each in error.problems:
            print(f"error: {each}", file=sys.stderr)
        return 2
    migrations.report(changes, args.config, lines)
    sys.stdout.write(migrations.rewrite(read_text(args.config, encoding="utf-8"), changes))
    return 0

"""``python -m lightcli`` is the ``lightcli`` command."""

from lightcli.commands import run

if __name__ == "__main__":
    run()

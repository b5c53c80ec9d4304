"""The subcommands besides the Lightning ones (listed in :data:`lightcli.config.commands.COMMANDS`)."""

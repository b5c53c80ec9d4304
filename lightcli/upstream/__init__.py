"""Every private jsonargparse and Lightning name lightcli uses, each with the versions it was checked on.

- :mod:`lightcli.upstream.jsonargparse`: jsonargparse's (no torch, no Lightning: ``lightcli.config`` uses it);
- :mod:`lightcli.upstream.lightning`: LightningCLI's (:class:`~lightcli.upstream.lightning.CLIBase`);
- :mod:`lightcli.upstream.lightning_core`: the LightningModule's, for the System;
- :mod:`lightcli.upstream.versions`: the checked version ranges, refused outside.
"""

"""Every private jsonargparse and Lightning name lightcli uses, each with the versions it was checked on."""

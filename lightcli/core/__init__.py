"""The training core: the System and the parts a config gives it."""

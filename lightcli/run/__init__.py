"""Around a run: its folder and records, checkpoints, signals, and the console."""

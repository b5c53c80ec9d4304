"""Reading, checking and explaining configs: no torch, no Lightning at import."""

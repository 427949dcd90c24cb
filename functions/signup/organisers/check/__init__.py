"""`signup check`: whether a real deployment works, one line per check."""

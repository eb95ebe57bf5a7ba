"""Search: finding papers by words (and, later, by meaning)."""

"""Golden data written by the reference package (see make_golden.py)."""

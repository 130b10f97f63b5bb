"""Code written by tools/generate_api.py (explicit, typed command methods)."""

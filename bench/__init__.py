"""The load bench, `python -m bench`: see __main__.py and the README (Performance)."""

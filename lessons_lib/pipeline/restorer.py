"""Compatibility shim (issue 26): moved to :mod:`lessons_lib.restoration.restorer`.

New code imports from the module named below; this file only re-exports it, so that
the lessons, tests and users' scripts written against the old path keep working.
Nothing inside ``lessons_lib`` imports a shim (``tests/test_import_floors.py`` checks it).
"""
from ..restoration.restorer import *  # noqa: F401,F403
from ..restoration.restorer import __all__  # noqa: F401

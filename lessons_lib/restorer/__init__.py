"""Compatibility shim (issue 26): the face restorer of seed 004 is now :mod:`lessons_lib.restoration`
(``restorer.pairs`` is ``restoration.blurred_faces``).

New code imports from the module named below; this file only re-exports it, so that
the lessons, tests and users' scripts written against the old path keep working.
Nothing inside ``lessons_lib`` imports a shim (``tests/test_import_floors.py`` checks it).
"""

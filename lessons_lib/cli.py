"""The ``lessons`` command line.

    lessons data list                      the image sources and their sizes
    lessons data show SOURCE --out grid.png

Each sub-command is one ``_cmd_*`` function that imports what it needs lazily (``lessons
--help`` stays instant) and calls the same package functions the notebooks use. A
:class:`lessons_lib.LessonsError` is printed as ``error: ...`` with exit status 2, never
as a traceback; Ctrl-C exits with 130.
"""
from __future__ import annotations

import argparse
import sys

from . import LessonsError, __version__


# --------------------------------------------------------------------------- data
def _add_data(sub) -> None:
    p = sub.add_parser("data", help="list the image sources, or show a grid of one")
    dsub = p.add_subparsers(dest="data_cmd", required=True, metavar="{list,show}")
    pl = dsub.add_parser("list", help="print every image source and its size")
    pl.set_defaults(func=_cmd_data_list)
    ps = dsub.add_parser("show", help="write a grid of example images of a source")
    ps.add_argument("source", help="samples, synthetic, cifar10, ..., a folder or a .zip")
    ps.add_argument("--out", required=True, help="PNG file to write")
    ps.add_argument("--split", default="train", help="train, val or test (default train)")
    ps.add_argument("-n", type=int, default=16, help="number of images (default 16)")
    ps.add_argument("--size", type=int, default=96, help="tile size in pixels (default 96)")
    ps.add_argument("--seed", type=int, default=0)
    ps.set_defaults(func=_cmd_data_show)


def _cmd_data_list(args) -> int:
    from .data import format_source_table, list_sources

    print(format_source_table(list_sources()))
    return 0


def _cmd_data_show(args) -> int:
    from .data import save_source_grid

    path = save_source_grid(args.source, args.out, split=args.split, n=args.n, size=args.size, seed=args.seed)
    print(f"wrote {path}")
    return 0


# --------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lessons",
        description="gan-lessons: GAN colorization and restoration, from the lessons' package.",
    )
    parser.add_argument("--version", action="version", version=f"gan-lessons {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _ADDERS:
        add(sub)
    return parser


# Each feature adds its sub-commands here (keep the order of `lessons --help`).
_ADDERS = [_add_data]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LessonsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

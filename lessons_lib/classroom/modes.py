"""The lessons' three run modes, chosen by one switch: ``LESSONS_MODE=smoke|class|full``.

* ``smoke`` - what the test command runs (CI): tiny data, a couple of steps, seconds per
  lesson; the numbers it prints show how the pieces fit and mean nothing. The old switch
  ``LESSONS_SMOKE=1`` still selects it.
* ``class`` - the default when a lesson is opened by hand: at most about 10 minutes per
  lesson on a 2-core laptop CPU, and still showing the lesson's point, by starting from
  the shipped warm-start checkpoints where training from scratch would take longer.
* ``full`` - the seed-faithful run, sized for a GPU (hours on a CPU); the device is picked
  automatically (cuda, then mps, then cpu).

A lesson's first code cell calls :func:`start_lesson`, which reads the switch, sets a sane
number of torch threads (oversubscribed threads ran up to 30x slower on a shared machine,
benchmarks/RESULTS.md) and prints one line that says which mode runs and how long it takes
(the times measured by ``benchmarks/lesson_times.py``, stored in ``lesson_times.json``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import LessonsError, mode_name
from ..data import open_source
from ..data.packs import get_command, installed_pack, pack_bytes

__all__ = ["MODES", "LESSON_DATA", "LessonMode", "describe_source", "lesson_mode", "lesson_threads", "lesson_times",
           "start_lesson"]

MODES = ("smoke", "class", "full")
TIMES_FILE = Path(__file__).with_name("lesson_times.json")

# The data packs each lesson reads in class and full mode, and what it runs on without
# them (`lessons data get course` installs them all). Smoke mode needs none: it runs on
# generated images and the bundled photos.
LESSON_DATA: dict[str, dict[str, str]] = {
    "01": {"cifar10": "synthetic"},
    **{n: {"scenes8": "samples"} for n in ("02", "03", "04", "05", "06")},
    **{n: {"celeba10k": "faces"} for n in ("07", "08", "09")},
    "10": {"imagenet1k": "samples", "scenes8": "samples", "celeba10k": "faces"},
    "11": {"cifar10": "samples", "scenes8": "samples"},
    "12": {"imagenet1k": "samples"},
}


def describe_source(name: str) -> str:
    """What a lesson's stand-in source is, in words, with its size (``"samples"`` -> "the 12
    colour photos bundled with ...")."""
    if name == "synthetic":
        return "generated landscapes (`synthetic`)"
    n = len(open_source(name, "train"))
    if name == "samples":
        return f"the {n} colour photos bundled with scikit-image, matplotlib and scikit-learn (`samples`)"
    if name == "faces":
        return (f"the {n} bundled face crops (`faces`: the public-domain astronaut and Grace Hopper portraits "
                "and their mirror images)")
    return f"`{name}` ({n} training images)"


def lesson_mode() -> str:
    """The run mode from the environment: ``LESSONS_MODE`` if set, else ``smoke`` when the
    old ``LESSONS_SMOKE=1`` is set, else ``class`` (:func:`lessons_lib.mode_name`), checked.

    Raises:
        LessonsError: ``LESSONS_MODE`` holds something else than smoke, class or full.
    """
    name = mode_name()
    if name not in MODES:
        raise LessonsError(f"LESSONS_MODE={name!r} is not a mode; use one of {', '.join(MODES)} "
                           "(e.g. LESSONS_MODE=class jupyter lab notebooks/)")
    return name


def lesson_threads(mode: str | None = None) -> int:
    """How many torch threads a lesson uses: ``LESSONS_THREADS`` if set; 1 in smoke mode (tiny
    tensors: a second thread only spin-waits); otherwise the cores this process may run on,
    at most 8 (more threads than cores, or than the matrices can use, only wait)."""
    raw = os.environ.get("LESSONS_THREADS", "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n < 1:
            raise LessonsError(f"LESSONS_THREADS={raw!r} must be a whole number >= 1")
        return n
    if (mode or lesson_mode()) == "smoke":
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


@lru_cache(maxsize=1)
def _times_table() -> dict[str, Any]:
    if not TIMES_FILE.is_file():
        return {}
    return json.loads(TIMES_FILE.read_text())


def lesson_times(lesson: str) -> dict[str, Any]:
    """The recorded times of one lesson (``"05"``): measured seconds per mode on the CPU
    (``smoke_s``, ``class_s``, from benchmarks/lesson_times.py) and the stated estimates
    for ``full`` and for a GPU; an empty dict when the lesson has not been measured."""
    return dict(_times_table().get("lessons", {}).get(lesson, {}))


def _fmt_seconds(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    return f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


@dataclass(frozen=True)
class LessonMode:
    """The mode a lesson runs in, with the device and thread count it uses.

    ``pick`` chooses a value per mode, which keeps every size of a lesson in one line::

        STEPS = MODE.pick(smoke=2, classroom=300, full=3000)
    """

    lesson: str
    name: str
    device: str
    threads: int
    packs: tuple[tuple[str, bool], ...] = ()   # (pack, installed) for each pack the lesson reads

    def has(self, pack: str) -> bool:
        """Whether the data pack ``pack`` is installed (``data_dirs()`` finds it)."""
        known = dict(self.packs)
        return known[pack] if pack in known else installed_pack(pack) is not None

    def source(self, pack: str, fallback: str | None = None) -> str:
        """The source a lesson reads for ``pack``: the pack when installed, else its stand-in
        (``fallback``, or the one :data:`LESSON_DATA` names for this lesson, else ``samples``)."""
        if self.has(pack):
            return pack
        return fallback or LESSON_DATA.get(self.lesson, {}).get(pack, "samples")

    def fit_batch(self, batch_size: int, source: str, split: str = "train") -> int:
        """``batch_size``, or the number of training images of ``source`` when it holds fewer
        (the bundled stand-ins hold 4-12 images: a batch of 32 would not fit once)."""
        return max(1, min(int(batch_size), len(open_source(source, split))))

    @property
    def smoke(self) -> bool:
        return self.name == "smoke"

    @property
    def classroom(self) -> bool:
        return self.name == "class"

    @property
    def full(self) -> bool:
        return self.name == "full"

    def pick(self, smoke: Any = None, classroom: Any = None, full: Any = None) -> Any:
        """The value given for this mode (``classroom`` is the ``class`` mode's)."""
        return {"smoke": smoke, "class": classroom, "full": full}[self.name]

    def headline(self) -> str:
        """The one line a lesson prints first: mode, expected time, how to change it."""
        t = lesson_times(self.lesson)
        if self.name == "full":
            cost = f"expected {t['full_gpu']} on a GPU, {t['full_cpu']} on a 2-core CPU" if "full_gpu" in t else \
                "sized for a GPU (hours on a CPU)"
        elif self.name == "class" and any(not ok for _, ok in self.packs) and "class_nopacks_s" in t:
            cost = f"measured {_fmt_seconds(t['class_nopacks_s'])} on a 2-core CPU without its data packs"
        elif f"{self.name}_s" in t:
            cost = f"measured {_fmt_seconds(t[self.name + '_s'])} on a 2-core CPU"
        else:
            cost = "not yet measured"
        others = {"smoke": "LESSONS_MODE=class for the classroom run",
                  "class": "LESSONS_MODE=full for the seed-faithful run (GPU), smoke for a seconds-long check",
                  "full": "LESSONS_MODE=class for the 10-minute classroom run"}[self.name]
        return (f"Lesson {self.lesson} runs in {self.name} mode ({cost}; device {self.device}, "
                f"{self.threads} torch thread{'s' * (self.threads != 1)}). Set {others}, then restart the kernel.")

    def data_line(self) -> str:
        """The line a lesson prints second: which data packs it reads, which are missing, the
        one command that gets them, and what the lesson runs on instead."""
        if not self.packs:
            return "Data: this lesson needs no data pack (it uses the photos bundled with the installed packages)."
        have = [p for p, ok in self.packs if ok]
        missing = [p for p, ok in self.packs if not ok]
        if not missing:
            return f"Data: {', '.join(have)} installed."
        mb = sum(pack_bytes(p) for p in missing) / 1e6
        line = (f"Data: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed ({mb:,.1f} MB). "
                f"Get {'it' if len(missing) == 1 else 'them'} with `{get_command(missing)}` (offline: add "
                "`--from FOLDER_OR_URL`), then restart the kernel.")
        if self.smoke:
            return line + " Smoke mode does not need them: it runs on generated images and the bundled photos."
        stand_ins = sorted({self.source(p) for p in missing})
        return (line + f" Until then this lesson runs on {' and '.join(describe_source(s) for s in stand_ins)} "
                f"instead of {', '.join(missing)}: it runs to the end, but its numbers only show the mechanics, "
                "and the numbers the text quotes (measured on the packs) will differ.")


def start_lesson(lesson: str, *, seed: int | None = 0, quiet: bool = False) -> LessonMode:
    """Read the mode switch, set torch's threads (and the seed), print the headline and the
    data line (which packs the lesson reads, which are missing, how to get them, what runs
    instead), return the mode.

    Args:
        lesson: the lesson's number as written in its file name (``"05"``).
        seed: seeds torch's generator (None leaves it alone).
        quiet: print nothing.
    """
    import torch

    from ..device import resolve_device

    name = lesson_mode()
    threads = lesson_threads(name)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    device = "cpu" if name == "smoke" else str(resolve_device(os.environ.get("LESSONS_DEVICE", "auto")))
    if seed is not None:
        torch.manual_seed(seed)
    packs = tuple((p, installed_pack(p) is not None) for p in LESSON_DATA.get(lesson, {}))
    mode = LessonMode(lesson=lesson, name=name, device=device, threads=threads, packs=packs)
    if not quiet:
        print(mode.headline())
        print(mode.data_line())
    return mode

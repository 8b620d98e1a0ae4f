"""What a lesson reads on a fresh machine: the bundled face crops, the data line each lesson
prints first (which packs are missing, the one command that gets them, what runs instead),
and the stand-in sources and batch sizes a lesson uses without its packs."""
from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lessons_lib.classroom.modes import LESSON_DATA, LessonMode, start_lesson
from lessons_lib.data import list_sources, open_source

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PACK_NAMES = ("scenes8", "imagenet1k", "celeba10k", "cifar10", "flowers5", "cbsd68")


@pytest.fixture
def no_packs(tmp_path, monkeypatch):
    """A fresh machine: the data folders hold nothing."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("LESSONS_DATA", str(empty))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))          # no torchvision files in ~/.cache either
    monkeypatch.setenv("LESSONS_MODE", "class")
    return empty


def _tiny_pack(folder: Path, name: str, n: int = 3) -> Path:
    """<folder>/<name>.zip laid out like a course pack (train/val), n images per split."""
    path = folder / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as z:
        for split in ("train", "val"):
            for i in range(n):
                buf = io.BytesIO()
                Image.new("RGB", (40, 30), (10 * i, 100, 200)).save(buf, "PNG")
                z.writestr(f"{split}/things/{i}.png", buf.getvalue())
        z.writestr("DATASET.json", json.dumps({"name": name}))
    return path


# --------------------------------------------------------------------------- faces
def test_faces_are_four_square_crops_and_their_mirrors():
    faces = open_source("faces", "val")
    assert len(faces) == 4
    assert [faces.label(i) for i in range(4)] == ["astronaut", "astronaut_mirrored", "grace_hopper",
                                                  "grace_hopper_mirrored"]
    for i in (0, 2):
        a, m = np.asarray(faces[i]), np.asarray(faces[i + 1])
        assert a.shape[0] == a.shape[1] >= 150 and a.shape[2] == 3      # a square crop, not the whole portrait
        np.testing.assert_array_equal(a[:, ::-1], m)
    assert "mirrored" in faces.path(1) and "astronaut.png" in faces.path(0)
    assert len(open_source("faces", "train")) == 4                      # every split holds all of them


def test_faces_are_listed_as_a_bundled_source():
    info = {s.name: s for s in list_sources()}["faces"]
    assert info.available and info.kind == "bundled" and info.splits["val"] == 4


# --------------------------------------------------------------------------- the data line
def test_without_packs_the_first_output_says_what_is_missing_how_to_get_it_and_what_runs(no_packs, capsys):
    mode = start_lesson("07", seed=None)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Lesson 07 runs in class mode")
    line = out[1]
    assert "celeba10k is not installed" in line
    assert "`lessons data get celeba10k`" in line and "--from" in line and "restart the kernel" in line
    assert "4 bundled face crops" in line and "numbers only show the mechanics" in line
    assert re.search(r"\(\d+\.\d MB\)", line)
    assert mode.source("celeba10k") == "faces" and not mode.has("celeba10k")


def test_lesson_10_names_every_missing_pack_in_one_command(no_packs, capsys):
    start_lesson("10", seed=None)
    line = capsys.readouterr().out.splitlines()[1]
    assert "`lessons data get imagenet1k scenes8 celeba10k`" in line
    assert "12 colour photos bundled" in line and "face crops" in line


def test_with_the_pack_installed_the_lesson_reads_it(no_packs, capsys):
    _tiny_pack(no_packs, "scenes8")
    mode = start_lesson("02", seed=None)
    assert capsys.readouterr().out.splitlines()[1] == "Data: scenes8 installed."
    assert mode.has("scenes8") and mode.source("scenes8") == "scenes8"
    assert mode.fit_batch(32, "scenes8") == 3                    # the tiny pack's 3 training images


def test_smoke_mode_says_it_needs_no_pack(no_packs, monkeypatch, capsys):
    monkeypatch.setenv("LESSONS_MODE", "smoke")
    start_lesson("12", seed=None)
    line = capsys.readouterr().out.splitlines()[1]
    assert "imagenet1k is not installed" in line and "Smoke mode does not need them" in line


def test_a_lesson_without_packs_says_so(no_packs, capsys):
    start_lesson("00", seed=None)
    assert "needs no data pack" in capsys.readouterr().out.splitlines()[1]


def test_fit_batch_shrinks_only_when_the_data_is_smaller(no_packs):
    mode = LessonMode("02", "class", "cpu", 1, (("scenes8", False),))
    n = len(open_source("samples"))
    assert mode.fit_batch(32, "samples") == n < 32
    assert mode.fit_batch(8, "samples") == 8
    assert mode.fit_batch(8, "faces") == 4


def test_a_lesson_specific_stand_in_wins(no_packs):
    assert LessonMode("01", "class", "cpu", 1, (("cifar10", False),)).source("cifar10") == "synthetic"
    assert LessonMode("11", "class", "cpu", 1, (("cifar10", False),)).source("cifar10") == "samples"
    assert LessonMode("11", "class", "cpu", 1, (("cifar10", False),)).source("cifar10", "faces") == "faces"


# --------------------------------------------------------------------------- the notebooks
def _code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name[:2])
def test_a_notebook_reaches_a_pack_only_through_its_mode(path):
    """A pack named in a lesson's code goes through MODE.source / MODE.has (which fall back
    and say so), and the lesson's table in LESSON_DATA lists it: a literal pack name elsewhere
    is the crash of a fresh clone."""
    lesson = path.name[:2]
    literal = re.compile(r"""["'](%s)["']""" % "|".join(PACK_NAMES))
    names = "|".join(PACK_NAMES)
    allowed = re.compile(r"""MODE\.(source|has)\(["'](%s)["']|[!=]= ["'](%s)["']""" % (names, names))
    for src in _code_cells(path):
        for line in src.splitlines():
            code = line.split("#")[0]
            for m in literal.finditer(code):
                assert allowed.search(code), f"{path.name}: {line.strip()!r} names {m.group(1)} directly"
                assert m.group(1) in LESSON_DATA.get(lesson, {}), f"{path.name} reads {m.group(1)}: add it to LESSON_DATA"


def test_every_lesson_in_the_table_exists():
    numbers = {p.name[:2] for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    assert set(LESSON_DATA) <= numbers
    assert all(set(fallbacks.values()) <= {"samples", "faces", "synthetic"} for fallbacks in LESSON_DATA.values())


def test_the_headline_gives_the_time_measured_without_packs_when_they_are_missing(monkeypatch):
    monkeypatch.setattr("lessons_lib.classroom.modes.lesson_times", lambda lesson: {"class_s": 46, "class_nopacks_s": 125})
    without = LessonMode("03", "class", "cpu", 2, (("scenes8", False),)).headline()
    with_packs = LessonMode("03", "class", "cpu", 2, (("scenes8", True),)).headline()
    assert "measured 2 min on a 2-core CPU without its data packs" in without
    assert "measured 46 s on a 2-core CPU;" in with_packs

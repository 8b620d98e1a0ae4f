"""The lessons as a student runs them: every notebook executed top to bottom in a fresh
kernel in class mode (the default mode), once with the course's data packs installed by
``lessons data get course`` and once on a fresh machine with no packs at all.

* **with the packs** - the packs are installed the way an offline classroom installs them,
  ``lessons data get course --from FOLDER`` (the folder: ``../shared/data`` beside this
  checkout, or ``LESSONS_PACKS_FROM``), into a temporary folder that ``LESSONS_DATA`` then
  points at. Without such a folder the leg is skipped with the reason, unless
  ``LESSONS_REQUIRE_PACKS=1`` (CI), where it fails.
* **without any pack** - ``LESSONS_DATA`` points at an empty folder: each lesson's first
  output must name the missing packs and the command that gets them, and the lesson must
  run to the end on its stand-ins. Class mode where that is cheap (``NO_PACK_CLASS``), smoke
  mode for the rest (the nbval leg of the same command also runs every lesson in smoke mode
  without packs).

These are the slow legs of the test command (about 30 minutes on 2 cores, see
benchmarks/RESULTS.md); ``pytest -m "not course"`` leaves them out for a quick local run.
Each run's wall time is written to ``benchmarks/out/course_times.json`` and its executed
notebook to ``benchmarks/out/executed/`` (what the lesson printed, to check its text against).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from lessons_lib.classroom.modes import LESSON_DATA
from lessons_lib.classroom.prose import unprinted_figures

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TIMES = ROOT / "benchmarks" / "out" / "course_times.json"
EXECUTED = ROOT / "benchmarks" / "out" / "executed"          # each run's notebook with its outputs
# Lessons whose class-mode run without packs is cheap (each at most ~1.4 min on 2 cores,
# benchmarks/RESULTS.md, issue 22); the three longest (01, 05, 11: about 2 min or more each)
# run in smoke mode in the no-pack leg, which keeps CI near 32 minutes.
NO_PACK_CLASS = ("00", "02", "03", "04", "06", "07", "08", "09", "10", "12")
CELL_TIMEOUT = 900

pytestmark = [pytest.mark.course, pytest.mark.timeout(1800)]


def _shared_packs() -> Path | None:
    env = os.environ.get("LESSONS_PACKS_FROM", "").strip()
    if env:
        return Path(env).expanduser()
    shared = ROOT.parent / "shared" / "data"
    return shared if shared.is_dir() else None


@pytest.fixture(scope="module")
def course_packs(tmp_path_factory) -> Path:
    """A folder holding the course's packs, installed by ``lessons data get course --from``."""
    from lessons_lib.cli import main

    source = _shared_packs()
    if source is None:
        msg = "no folder of packs to install from (../shared/data or LESSONS_PACKS_FROM)"
        if os.environ.get("LESSONS_REQUIRE_PACKS") == "1":
            pytest.fail(msg + "; LESSONS_REQUIRE_PACKS=1 requires the leg with the packs")
        pytest.skip(msg)
    dest = tmp_path_factory.mktemp("course-packs")
    assert main(["data", "get", "course", "--from", str(source), "--dir", str(dest)]) == 0
    return dest


def _record(lesson: str, leg: str, mode: str, wall: float) -> None:
    TIMES.parent.mkdir(parents=True, exist_ok=True)
    table = json.loads(TIMES.read_text()) if TIMES.is_file() else {}
    table[f"{lesson} {leg}"] = {"mode": mode, "wall_s": round(wall, 1), "date": time.strftime("%Y-%m-%d %H:%M")}
    TIMES.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")


def _run(path: Path, mode: str, data_dir: Path, monkeypatch, executed: list | None = None) -> list[str]:
    """Execute the notebook in a fresh kernel (cwd notebooks/); return what it printed, cell by
    cell (and append the executed notebook to ``executed`` when one is given)."""
    import nbformat

    from lessons_lib.classroom.execute import notebook_client

    monkeypatch.setenv("LESSONS_MODE", mode)
    monkeypatch.setenv("LESSONS_DATA", str(data_dir))
    monkeypatch.delenv("LESSONS_SMOKE", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)     # the lesson sets its own threads
    monkeypatch.delenv("MPLBACKEND", raising=False)          # Jupyter's inline backend, as a student's
    nb = nbformat.read(str(path), as_version=4)
    t0 = time.perf_counter()
    notebook_client(nb, timeout=CELL_TIMEOUT, cwd=str(path.parent)).execute()
    leg = "packs" if data_dir.name.startswith("course-packs") else "no packs"
    _record(path.name[:2], leg, mode, time.perf_counter() - t0)
    EXECUTED.mkdir(parents=True, exist_ok=True)       # the outputs, to read the lesson's text against
    nbformat.write(nb, str(EXECUTED / f"{path.stem}.{leg.replace(' ', '_')}.{mode}.ipynb"))
    if executed is not None:
        executed.append(nb)
    return [out.get("text", "") for cell in nb.cells for out in cell.get("outputs", [])
            if out.get("output_type") == "stream" and out.get("name") == "stdout"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_lesson_runs_in_class_mode_with_the_course_packs(path, course_packs, monkeypatch):
    executed: list = []
    texts = _run(path, "class", course_packs, monkeypatch, executed)
    lines = "".join(texts).splitlines()
    assert lines[0].startswith(f"Lesson {path.name[:2]} runs in class mode")
    packs = LESSON_DATA.get(path.name[:2], {})
    assert lines[1] == (f"Data: {', '.join(packs)} installed." if packs else lines[1]), lines[1]
    # the prose describes this run: a figure it marks "(printed above)" must be what the lesson printed
    drift = unprinted_figures(executed[0])
    assert not drift, f"{path.name}: the text and the output drifted apart:\n  " + "\n  ".join(drift)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_lesson_runs_to_the_end_without_any_pack(path, tmp_path, monkeypatch):
    lesson = path.name[:2]
    mode = "class" if lesson in NO_PACK_CLASS else "smoke"
    empty = tmp_path / "no-packs"
    empty.mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))      # nor torchvision's files in ~/.cache
    lines = "".join(_run(path, mode, empty, monkeypatch)).splitlines()
    assert lines[0].startswith(f"Lesson {lesson} runs in {mode} mode")
    missing = list(LESSON_DATA.get(lesson, {}))
    if missing:
        assert f"`lessons data get {' '.join(missing)}`" in lines[1], lines[1]
        assert "not installed" in lines[1]
        if mode == "class":
            assert "Until then this lesson runs on" in lines[1]

"""The instructor edition (the committed notebooks) and the student edition made from it.

The committed notebooks are the instructor's. They mark what a student must not see, the
way nbgrader and otter-grader do:

* in a code cell, the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` are
  the answer; the student edition replaces them with ``# YOUR CODE HERE`` and
  ``raise NotImplementedError(...)`` at the same indentation. A solution region must sit
  inside a function body, so that the student's notebook still runs to the end: the
  exercise's check then reports "Not done yet" instead of failing the notebook;
* the lines between ``### BEGIN HIDDEN`` and ``### END HIDDEN`` are dropped (checks only the
  instructor's notebook runs, e.g. ``assert result``);
* in a markdown cell, the text between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->``
  is an answer (a question's, an exercise's conclusion) and becomes "*Your answer:*" on a line of its own;
* a cell tagged ``instructor`` (cell metadata ``tags``) is an instructor note and is dropped.

``<details>`` answer blocks are not allowed in the instructor edition either: they would
reach the student unmarked. :func:`student_edition` refuses a notebook that has one, or a
marker without its partner, naming the cell.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import LessonsError

__all__ = ["EditionReport", "student_edition", "write_student_edition", "solution_leaks",
           "BEGIN_SOLUTION", "END_SOLUTION", "BEGIN_HIDDEN", "END_HIDDEN", "MD_BEGIN", "MD_END",
           "STUB_MESSAGE", "MD_STUB"]

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN", "### END HIDDEN"
MD_BEGIN, MD_END = "<!-- BEGIN SOLUTION -->", "<!-- END SOLUTION -->"
INSTRUCTOR_TAG = "instructor"
STUB_MESSAGE = "exercise not done yet: replace this line with your code"
MD_STUB = "<br>*Your answer:* ..."    # <br>: its own line also right after a list item
_DETAILS = re.compile(r"<details\b", re.IGNORECASE)


@dataclass
class EditionReport:
    """What :func:`write_student_edition` did, per notebook and in all."""

    notebooks: list[Path] = field(default_factory=list)
    solutions: int = 0          # code solution regions replaced by a stub
    hidden: int = 0             # hidden (instructor-only) code regions dropped
    answers: int = 0            # markdown answers replaced by "Your answer"
    instructor_cells: int = 0   # cells tagged instructor, dropped

    def __str__(self) -> str:
        return (f"wrote {len(self.notebooks)} student notebook(s): {self.solutions} solution(s) stubbed, "
                f"{self.answers} answer(s) blanked, {self.hidden} hidden check(s) and "
                f"{self.instructor_cells} instructor note(s) removed")


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _set_source(cell: dict, text: str) -> None:
    lines = text.splitlines(keepends=True)
    cell["source"] = lines


def _strip_code(text: str, where: str, report: EditionReport) -> str:
    """Replace solution regions by a stub and drop hidden regions, line by line."""
    out: list[str] = []
    state, indent = None, ""
    for lineno, line in enumerate(text.splitlines(keepends=True), 1):
        marker = line.strip()
        if marker in (BEGIN_SOLUTION, BEGIN_HIDDEN):
            if state is not None:
                raise LessonsError(f"{where}, line {lineno}: {marker!r} inside an open {state} region; "
                                   "close the first one before opening another")
            state = "solution" if marker == BEGIN_SOLUTION else "hidden"
            indent = line[: len(line) - len(line.lstrip())]
            continue
        if marker in (END_SOLUTION, END_HIDDEN):
            expected = "solution" if marker == END_SOLUTION else "hidden"
            if state != expected:
                raise LessonsError(f"{where}, line {lineno}: {marker!r} without its BEGIN line")
            if state == "solution":
                if not indent:
                    raise LessonsError(f"{where}, line {lineno}: a solution region must sit inside a function "
                                       "body (indented), so the student's notebook still runs to the end")
                out.append(f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError({STUB_MESSAGE!r})\n")
                report.solutions += 1
            else:
                report.hidden += 1
            state = None
            continue
        if state is None:
            out.append(line)
    if state is not None:
        raise LessonsError(f"{where}: a {state} region is opened and never closed")
    return "".join(out)


def _strip_markdown(text: str, where: str, report: EditionReport) -> str:
    if _DETAILS.search(text):
        raise LessonsError(f"{where}: a <details> block would hand the student its answer; put the answer "
                           f"between {MD_BEGIN} and {MD_END} instead")
    out, pos = [], 0
    while True:
        start = text.find(MD_BEGIN, pos)
        stray_end = text.find(MD_END, pos)
        if start < 0:
            if stray_end >= 0:
                raise LessonsError(f"{where}: {MD_END} without its {MD_BEGIN}")
            out.append(text[pos:])
            break
        if 0 <= stray_end < start:
            raise LessonsError(f"{where}: {MD_END} without its {MD_BEGIN}")
        end = text.find(MD_END, start)
        if end < 0:
            raise LessonsError(f"{where}: {MD_BEGIN} is never closed by {MD_END}")
        out.append(text[pos:start] + MD_STUB)
        report.answers += 1
        pos = end + len(MD_END)
    return "".join(out)


def student_edition(nb: dict[str, Any], name: str = "notebook", report: EditionReport | None = None) -> dict:
    """The student edition of one notebook (a dict as ``json.load`` gives it), outputs cleared.

    Raises:
        LessonsError: a marker without its partner, a solution region outside a function,
            or a ``<details>`` block; the message names the cell.
    """
    report = report if report is not None else EditionReport()
    out = copy.deepcopy(nb)
    cells = []
    for i, cell in enumerate(out.get("cells", [])):
        where = f"{name}, cell {i}"
        if INSTRUCTOR_TAG in cell.get("metadata", {}).get("tags", []):
            report.instructor_cells += 1
            continue
        text = _source(cell)
        if cell.get("cell_type") == "code":
            _set_source(cell, _strip_code(text, where, report))
            cell["outputs"], cell["execution_count"] = [], None
        elif cell.get("cell_type") == "markdown":
            _set_source(cell, _strip_markdown(text, where, report))
        cells.append(cell)
    out["cells"] = cells
    out.setdefault("metadata", {})["lessons_edition"] = "student"
    return out


def solution_leaks(nb: dict[str, Any]) -> list[str]:
    """Every place of a notebook that would show a student an answer: solution or hidden
    markers, markdown answers, instructor cells, ``<details>`` blocks (empty = clean)."""
    leaks = []
    for i, cell in enumerate(nb.get("cells", [])):
        text = _source(cell)
        if INSTRUCTOR_TAG in cell.get("metadata", {}).get("tags", []):
            leaks.append(f"cell {i}: tagged {INSTRUCTOR_TAG}")
        for marker in (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN, MD_BEGIN, MD_END):
            if marker in text:
                leaks.append(f"cell {i}: {marker}")
        if _DETAILS.search(text):
            leaks.append(f"cell {i}: <details> block")
    return leaks


def write_student_edition(src: str | Path, out: str | Path, *, overwrite: bool = False) -> EditionReport:
    """Write the student edition of every notebook in ``src`` (a folder) to ``out``.

    Files beside the notebooks are copied, except the instructor guide (``INSTRUCTOR.md``).
    An existing, non-empty ``out`` is refused unless ``overwrite`` (a student's work is
    never overwritten by accident); ``out`` must not be ``src`` itself.
    """
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise LessonsError(f"{src} is not a folder of notebooks; pass the instructor's notebooks/ folder")
    notebooks = sorted(src.glob("*.ipynb"))
    if not notebooks:
        raise LessonsError(f"{src} holds no .ipynb notebooks")
    if out.resolve() == src.resolve():
        raise LessonsError("the student edition cannot be written over the instructor's notebooks; "
                           "choose another folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise LessonsError(f"{out} exists and is not empty; choose a new folder or pass --overwrite "
                           "(it replaces the notebooks there, including any student's answers)")
    editions = {}
    report = EditionReport()
    for path in notebooks:                                   # build all first: no half-written folder
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise LessonsError(f"{path} is not a valid notebook ({e})") from None
        editions[path.name] = student_edition(nb, path.name, report)
    out.mkdir(parents=True, exist_ok=True)
    for fname, nb in editions.items():
        target = out / fname
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        report.notebooks.append(target)
    for extra in src.iterdir():
        if extra.is_file() and extra.suffix != ".ipynb" and extra.name != "INSTRUCTOR.md":
            shutil.copy2(extra, out / extra.name)
    return report

"""Grading the way nbgrader and otter-grader do: run the student's notebook, then the
instructor's hidden checks, and read what the grader itself observed.

:func:`grade_notebook`:

1. finds the lesson's **instructor edition** (the committed notebook of the same name, or of
   the lesson number its ``start_lesson("NN")`` names) and takes from it each exercise's
   check call, e.g. ``check_restoration_experiment(my_restoration_experiment, restorer,
   exp_blurred, exp_sharp)`` (:func:`hidden_checks`);
2. executes the **student's notebook** in a fresh kernel with errors allowed: one broken
   exploratory cell does not stop the cells after it, and is reported next to the verdicts
   (:attr:`NotebookGrade.failed_cells`);
3. right after the student's cell that defines each exercise's function (``def my_x``), it
   **injects a hidden cell** the student never saw: the cell loads a fresh copy of the
   checker modules from the package's files (a ``check_*`` the student redefined, or a checker
   module the student monkeypatched, is not the one that runs), runs the instructor's check
   call on the student's function, then on a control answer that must fail (a checker
   patched to pass everything is caught), and prints one verdict line that starts with a
   random **nonce** drawn for this run;
4. reads each verdict from **that hidden cell's own output** and that nonce: a line a
   student's cell prints, a verdict file it writes, a gradebook line it appends are never
   read (``LESSONS_GRADEBOOK`` is not set while grading).

What it does not claim: the student's code runs in the same Python process as the hidden
checks, so code that rewrites the interpreter itself (``builtins``, torch) could still lie;
the control answer catches the plain case of a checker that passes everything.
"""
from __future__ import annotations

import ast
import copy
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import LessonsError
from .editions import BEGIN_SOLUTION
from .modes import MODES

__all__ = ["NotebookGrade", "HiddenCheck", "grade_notebook", "format_grades", "hidden_checks",
           "instructor_edition", "INSTRUCTOR_NOTEBOOKS"]

#: the instructor edition: the notebooks of this checkout
INSTRUCTOR_NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
_EXERCISES_DIR = Path(__file__).resolve().parents[1] / "exercises"
_VERDICT = "LESSONS-VERDICT"
_LESSON = re.compile(r"start_lesson\(\s*[\"'](\d+)[\"']")


@dataclass
class NotebookGrade:
    """The verdicts of one notebook, in the instructor edition's order of the exercises."""

    notebook: Path
    verdicts: dict[str, str] = field(default_factory=dict)     # exercise -> passed | wrong | not_done
    error: str = ""                                             # what stopped the run (a timeout, a dead kernel)
    failed_cells: list[str] = field(default_factory=list)      # "cell 7: NameError: ..." (the run went on)
    notes: dict[str, str] = field(default_factory=dict)        # exercise -> why a verdict is not the check's own

    @property
    def passed(self) -> int:
        return sum(v == "passed" for v in self.verdicts.values())

    def counts(self) -> dict[str, int]:
        return {s: sum(v == s for v in self.verdicts.values()) for s in ("passed", "wrong", "not_done")}

    def to_dict(self) -> dict[str, Any]:
        return {"notebook": str(self.notebook), "verdicts": self.verdicts, "error": self.error,
                "failed_cells": self.failed_cells, "notes": self.notes}


@dataclass(frozen=True)
class HiddenCheck:
    """One exercise of the instructor edition: the student's function and the check call."""

    function: str          # my_restoration_experiment
    check: str             # check_restoration_experiment
    call: str              # check_restoration_experiment(my_restoration_experiment, restorer, ...)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def hidden_checks(nb: dict) -> list[HiddenCheck]:
    """The exercises of an instructor notebook: in each code cell with a solution region,
    every ``check_*(...)`` call whose first argument is a function the cell defines."""
    out: list[HiddenCheck] = []
    for cell in nb.get("cells", []):
        text = _source(cell)
        if cell.get("cell_type") != "code" or BEGIN_SOLUTION not in text:
            continue
        tree = ast.parse(text)
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith("check_")
                    and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in defined):
                check = HiddenCheck(node.args[0].id, node.func.id, ast.get_source_segment(text, node) or "")
                if check not in out:
                    out.append(check)
    return out


def _lesson_number(nb: dict) -> str | None:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            m = _LESSON.search(_source(cell))
            if m:
                return m.group(1)
    return None


def instructor_edition(student: Path, nb: dict, source: str | Path | None = None) -> Path | None:
    """The instructor notebook of ``student``: ``source`` itself when it is a notebook, else in
    the folder ``source`` (default: this checkout's notebooks/) the notebook of the same name,
    or the one whose name starts with the lesson number that ``start_lesson("NN")`` names."""
    src = Path(source) if source is not None else INSTRUCTOR_NOTEBOOKS
    if src.is_file():
        return src
    if not src.is_dir():
        return None
    same = src / student.name
    if same.is_file():
        return same
    number = _lesson_number(nb)
    if number is not None:
        matches = sorted(src.glob(f"{number}_*.ipynb"))
        if matches:
            return matches[0]
    return None


def _defines(text: str, name: str) -> bool:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return re.search(rf"^\s*def\s+{re.escape(name)}\s*\(", text, re.MULTILINE) is not None
    return any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body)


def _hidden_source(check: HiddenCheck, nonce: str) -> str:
    """The hidden cell: a fresh copy of the checkers, the check on the student's function and
    on a control answer, one verdict line with the nonce. Every name it needs is local."""
    package = f"lessons_lib._hidden_{nonce[:12]}"
    return f'''# injected by the grader (lessons course grade): a hidden check
def __lessons_hidden_check():
    import importlib.util as _util
    import json as _json
    import sys as _sys

    _name = {package!r}
    _spec = _util.spec_from_file_location(_name, {str(_EXERCISES_DIR / "__init__.py")!r},
                                          submodule_search_locations=[{str(_EXERCISES_DIR)!r}])
    _fresh = _util.module_from_spec(_spec)
    _sys.modules[_name] = _fresh
    try:
        _spec.loader.exec_module(_fresh)
        _ns = dict(globals())
        _ns[{check.check!r}] = getattr(_fresh, {check.check!r})

        def _stub(*args, **kwargs):
            raise NotImplementedError

        _changed = []

        def _perturb(x):  # the answer made wrong: every number of it moved by 1
            import torch as _torch

            if isinstance(x, _torch.Tensor) and x.dtype != _torch.bool:
                _changed.append(1)
                return x + 1
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                _changed.append(1)
                return x + 1
            if isinstance(x, (tuple, list)):
                return type(x)(_perturb(v) for v in x)
            if isinstance(x, dict):
                return {{k: _perturb(v) for k, v in x.items()}}
            return x

        _code = compile({check.call!r}, "<hidden check>", "eval")
        _student = _ns.setdefault({check.function!r}, _stub)
        _result = eval(_code, _ns)
        # controls: answers that must fail a genuine checker (None; the student's own answer
        # with every number moved by 1, when it has numbers)
        _ns[{check.function!r}] = lambda *args, **kwargs: None
        _controls = [str(eval(_code, _ns).status)]
        if _result.status == "passed":
            _ns[{check.function!r}] = lambda *args, **kwargs: _perturb(_student(*args, **kwargs))
            _moved = str(eval(_code, _ns).status)
            if _changed:
                _controls.append(_moved)
        _out = {{"exercise": str(_result.exercise), "status": str(_result.status),
                 "control": "passed" if "passed" in _controls else "failed"}}
    except BaseException as _e:  # the check could not run: say why
        _out = {{"error": (type(_e).__name__ + ": " + str(_e))[:300]}}
    finally:
        for _k in [k for k in _sys.modules if k == _name or k.startswith(_name + ".")]:
            del _sys.modules[_k]
    _sys.stdout.write({_VERDICT + " " + nonce + " "!r} + _json.dumps(_out) + "\\n")
    _sys.stdout.flush()


__lessons_hidden_check()
del __lessons_hidden_check
'''


def _with_hidden_cells(nb: dict, checks: list[HiddenCheck], nonce: str) -> tuple[dict, list[int], dict[int, int]]:
    """The student's notebook with a hidden cell after the cell that defines each exercise's
    function (at the end when none does). Returns the notebook, the hidden cells' indices
    (in ``checks``' order) and a map from each student cell's new index to its own index."""
    import nbformat

    cells = list(nb.cells)
    after: dict[int, list[int]] = {}
    for k, check in enumerate(checks):
        where = max((i for i, c in enumerate(cells) if c.get("cell_type") == "code"
                     and _defines(_source(c), check.function)), default=len(cells) - 1)
        after.setdefault(where, []).append(k)
    out, hidden, own = [], [0] * len(checks), {}
    for i, cell in enumerate(cells):
        own[len(out)] = i
        out.append(cell)
        for k in after.get(i, []):
            hidden[k] = len(out)
            out.append(nbformat.v4.new_code_cell(_hidden_source(checks[k], nonce),
                                                 metadata={"lessons_hidden": True}))
    if not cells:
        for k, check in enumerate(checks):
            hidden[k] = len(out)
            out.append(nbformat.v4.new_code_cell(_hidden_source(check, nonce), metadata={"lessons_hidden": True}))
    nb = copy.copy(nb)
    nb.cells = out
    return nb, hidden, own


def _verdict_of(cell: dict, nonce: str) -> tuple[dict[str, Any] | None, str]:
    """The one verdict line of a hidden cell's output (None and why when there is not one)."""
    prefix = f"{_VERDICT} {nonce} "
    found: list[dict[str, Any]] = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return None, f"the hidden check stopped: {output.get('ename')}: {output.get('evalue', '')[:200]}"
        text = output.get("text", "") if output.get("output_type") == "stream" else ""
        for line in (text if isinstance(text, str) else "".join(text)).splitlines():
            if line.startswith(prefix):
                try:
                    found.append(json.loads(line[len(prefix):]))
                except json.JSONDecodeError:
                    return None, "a verdict line of this run was altered"
    if not found:
        return None, "no verdict was observed (the hidden check did not run to its end)"
    if any(f != found[0] for f in found[1:]):
        return None, "conflicting verdict lines in the hidden check's output"
    return found[0], ""


def grade_notebook(path: str | Path, *, mode: str = "smoke", timeout: int = 600,
                   kernel: str | None = None, retries: int = 0, source: str | Path | None = None) -> NotebookGrade:
    """Execute ``path`` (never written back) in ``mode`` with the instructor's hidden checks
    and return its exercises' verdicts (module docstring).

    Args:
        path: a student's (or the instructor's) notebook.
        mode: the run mode of :mod:`lessons_lib.classroom.modes` (smoke: seconds per lesson).
        timeout: seconds allowed per cell.
        kernel: the Jupyter kernel name (default: the notebook's own, else python3).
        retries: run the notebook again in a fresh kernel this many times when a cell times
            out; the last run's verdicts count.
        source: the instructor edition: a notebook, or the folder of the instructor's
            notebooks (default: this checkout's notebooks/). A notebook without one is run
            and its failing cells reported, with no verdicts.
    """
    import nbformat

    path = Path(path)
    if mode not in MODES:
        raise LessonsError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if not path.is_file():
        raise LessonsError(f"no notebook at {path}")
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as e:  # nbformat raises several kinds for a broken file
        raise LessonsError(f"{path} is not a readable notebook ({type(e).__name__}: {e})") from None
    if retries < 0:
        raise LessonsError(f"retries is a number of extra runs, >= 0, got {retries}")
    teacher = instructor_edition(path, nb, source)
    checks: list[HiddenCheck] = []
    if teacher is not None:
        try:
            checks = hidden_checks(json.loads(teacher.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, SyntaxError) as e:
            raise LessonsError(f"the instructor edition {teacher} cannot be read ({e})") from None
    for attempt in range(retries + 1):
        grade = _grade_once(path, nb, checks, mode, timeout, kernel)
        if not grade.error.startswith("timed out") or attempt == retries:
            return grade
    return grade


def _grade_once(path: Path, nb: Any, checks: list[HiddenCheck], mode: str, timeout: int,
                kernel: str | None) -> NotebookGrade:
    """One run of :func:`grade_notebook` in a fresh kernel; a timeout's error starts with
    "timed out"."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from .execute import notebook_client

    nonce = secrets.token_hex(16)                 # drawn after the student's file was read
    run, hidden, own = _with_hidden_cells(copy.deepcopy(nb), checks, nonce)
    saved = {k: os.environ.get(k) for k in ("LESSONS_GRADEBOOK", "LESSONS_MODE", "MPLBACKEND")}
    os.environ.pop("LESSONS_GRADEBOOK", None)     # no verdict file: the student's kernel could write it
    os.environ.update({"LESSONS_MODE": mode, "MPLBACKEND": "Agg"})
    error = ""
    try:
        notebook_client(run, timeout=timeout, cwd=str(path.parent), kernel=kernel, allow_errors=True).execute()
    except CellTimeoutError as e:
        error = f"timed out: a cell ran longer than {timeout} s ({str(e).strip().splitlines()[0][:200]})"
    except DeadKernelError as e:
        first = str(e).strip().splitlines()
        error = "the kernel died: " + next((ln for ln in reversed(first) if ln.strip()), type(e).__name__)[:300]
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    grade = NotebookGrade(path, error=error)
    for i, cell in enumerate(run.cells):
        if i in own:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    grade.failed_cells.append(f"cell {own[i]}: {output.get('ename')}: "
                                              f"{str(output.get('evalue', '')).splitlines()[0][:200] if output.get('evalue') else ''}")
    for check, i in zip(checks, hidden):
        verdict, why = _verdict_of(run.cells[i], nonce)
        name = verdict.get("exercise") if verdict and "exercise" in verdict else check.check
        if verdict is None or "error" in verdict:
            if error and verdict is None and not run.cells[i].get("outputs"):
                why = "not reached: " + error
            grade.verdicts[name] = "wrong"
            grade.notes[name] = why or f"the hidden check could not run: {verdict['error']}"
        elif verdict.get("control") == "passed":
            grade.verdicts[name] = "wrong"
            grade.notes[name] = "the checker was tampered with: a known wrong answer passed it"
        else:
            grade.verdicts[name] = verdict["status"] if verdict["status"] in ("passed", "wrong", "not_done") else "wrong"
    return grade


def format_grades(grades: list[NotebookGrade]) -> str:
    """A plain-text table: one row per exercise, a total per notebook, the failing cells."""
    lines = []
    for g in grades:
        c = g.counts()
        lines.append(f"{g.notebook.name}: {c['passed']} passed, {c['wrong']} wrong, {c['not_done']} not done"
                     + (f"  [stopped: {g.error}]" if g.error else ""))
        for exercise, status in g.verdicts.items():
            note = f"  ({g.notes[exercise]})" if exercise in g.notes else ""
            lines.append(f"    {status:<9} {exercise}{note}")
        for failed in g.failed_cells:
            lines.append(f"    error in {failed} (the run went on)")
    return "\n".join(lines)

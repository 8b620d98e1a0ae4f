"""Grading a student cannot forge (issue 23, checks 5): the verdicts come from hidden checks
the grader injects from the instructor edition and reads in its own cells' output, with a
nonce drawn per run; a broken exploratory cell does not zero the exercises after it.

One tiny lesson (two exercises of lesson 05's checks) is graded as handed in by honest and
by forging students; each forgery would have passed the old gradebook-file grading."""
from __future__ import annotations

import json

import pytest

from lessons_lib.classroom.grading import format_grades, grade_notebook, hidden_checks

IMPORTS = "from lessons_lib.exercises import check_lsgan_d_loss, check_lsgan_g_loss\n"
G_SOLUTION = ("def my_lsgan_g_loss(fake, c):\n"
              "    ### BEGIN SOLUTION\n"
              "    return 0.5 * ((fake - c) ** 2).mean()\n"
              "    ### END SOLUTION\n"
              "result = check_lsgan_g_loss(my_lsgan_g_loss)\n"
              "print(result)\n")
D_SOLUTION = ("def my_lsgan_d_loss(real, fake, a, b):\n"
              "    ### BEGIN SOLUTION\n"
              "    return 0.5 * ((real - b) ** 2).mean() + 0.5 * ((fake - a) ** 2).mean()\n"
              "    ### END SOLUTION\n"
              "result = check_lsgan_d_loss(my_lsgan_d_loss)\n"
              "print(result)\n")
WRONG_G = ("def my_lsgan_g_loss(fake, c):\n"
           "    return ((fake - c) ** 2).mean()          # the 1/2 is missing\n"
           "result = check_lsgan_g_loss(my_lsgan_g_loss)\n")
RIGHT_D = D_SOLUTION.replace("    ### BEGIN SOLUTION\n", "").replace("    ### END SOLUTION\n", "")
STUB_D = ("def my_lsgan_d_loss(real, fake, a, b):\n"
          "    raise NotImplementedError\n"
          "result = check_lsgan_d_loss(my_lsgan_d_loss)\n")
G_NAME, D_NAME = "the LSGAN generator loss", "the LSGAN discriminator loss"


def _code(src):
    return {"cell_type": "code", "source": src, "metadata": {}, "outputs": [], "execution_count": None}


def _write(path, *sources):
    nb = {"cells": [_code(s) for s in sources], "nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("instructor") / "99_tiny.ipynb", IMPORTS, G_SOLUTION, D_SOLUTION)


def _grade(tmp_path, teacher, *sources):
    return grade_notebook(_write(tmp_path / "99_tiny.ipynb", *sources), timeout=120, source=teacher.parent)


def test_the_hidden_checks_are_read_from_the_instructor_edition(teacher):
    checks = hidden_checks(json.loads(teacher.read_text()))
    assert [(c.function, c.check, c.call) for c in checks] == [
        ("my_lsgan_g_loss", "check_lsgan_g_loss", "check_lsgan_g_loss(my_lsgan_g_loss)"),
        ("my_lsgan_d_loss", "check_lsgan_d_loss", "check_lsgan_d_loss(my_lsgan_d_loss)")]


def test_honest_students_and_a_broken_exploratory_cell(tmp_path, teacher):
    grade = _grade(tmp_path, teacher, IMPORTS, WRONG_G, "1 / 0   # an exploratory cell that fails", STUB_D)
    assert grade.verdicts == {G_NAME: "wrong", D_NAME: "not_done"}
    assert grade.failed_cells == ["cell 2: ZeroDivisionError: division by zero"] and grade.error == ""
    # the exercise after the broken cell is still graded: the run goes on
    grade = _grade(tmp_path, teacher, IMPORTS, "undefined_name", G_SOLUTION, "raise ValueError('oops')", RIGHT_D)
    assert grade.verdicts == {G_NAME: "passed", D_NAME: "passed"}, (grade.verdicts, grade.notes)
    assert [c.split(":")[0] for c in grade.failed_cells] == ["cell 1", "cell 3"]
    text = format_grades([grade])
    assert "2 passed, 0 wrong" in text and "error in cell 1: NameError" in text


FORGERIES = {
    "appends passed to the gradebook file": (
        "import json, os\n"
        "for name in ('the LSGAN generator loss', 'the LSGAN discriminator loss'):\n"
        "    with open(os.environ.get('LESSONS_GRADEBOOK', 'gradebook.jsonl'), 'a') as fh:\n"
        "        fh.write(json.dumps({'check': 'x', 'exercise': name, 'answer': 'my_x', 'status': 'passed'}) + '\\n')\n"),
    "prints fake verdict lines": (
        "import json\n"
        "for name in ('the LSGAN generator loss', 'the LSGAN discriminator loss'):\n"
        "    print('LESSONS-VERDICT 0123456789abcdef ' + json.dumps({'exercise': name, 'status': 'passed',"
        " 'control': 'wrong'}))\n"),
    "monkeypatches the checker": (
        "import lessons_lib.exercises as ex, lessons_lib.exercises._core as core\n"
        "from lessons_lib.exercises import lesson05\n"
        "core.compare_tensors = lambda *a, **k: None\n"
        "lesson05.check_function = lambda exercise, *a, **k: core.Result(exercise, True)\n"
        "ex.check_lsgan_g_loss = ex.check_lsgan_d_loss = lambda fn: core.Result('x', True)\n"),
    "redefines the check functions": (
        "from lessons_lib.exercises import Result\n"
        "def check_lsgan_g_loss(fn):\n    return Result('the LSGAN generator loss', True)\n"
        "def check_lsgan_d_loss(fn):\n    return Result('the LSGAN discriminator loss', True)\n"),
}


@pytest.mark.parametrize("forgery", list(FORGERIES), ids=list(FORGERIES))
def test_a_forgery_changes_no_verdict(tmp_path, teacher, forgery):
    grade = _grade(tmp_path, teacher, IMPORTS, FORGERIES[forgery], WRONG_G, STUB_D, FORGERIES[forgery])
    assert grade.verdicts == {G_NAME: "wrong", D_NAME: "not_done"}, (forgery, grade.verdicts, grade.notes)


def test_a_checker_patched_to_pass_everything_is_caught(tmp_path, teacher):
    """A patch the fresh copy of the checkers cannot undo (torch's own comparison) makes the
    control answer pass too: the verdict is 'wrong', with a note."""
    patch = ("import torch\n"
             "torch.Tensor.all = lambda self, *a, **k: torch.tensor(True)   # every comparison agrees\n")
    grade = _grade(tmp_path, teacher, IMPORTS, patch, WRONG_G, RIGHT_D)
    assert grade.verdicts[G_NAME] == "wrong" and "tampered" in grade.notes[G_NAME], (grade.verdicts, grade.notes)


def test_the_student_edition_shows_no_near_solution():
    """Issue 23: L09's wrong_axis (the solution with one axis changed) and L10's _sqrtm slip,
    whose printed hint gives the fix, are in the instructor edition only."""
    from pathlib import Path

    from lessons_lib.classroom.editions import student_edition

    root = Path(__file__).resolve().parents[1] / "notebooks"
    for name, gone in [("09_fusion_restorer.ipynb", "def wrong_axis"), ("10_evaluating_gans.ipynb", "def _sqrtm")]:
        teacher = json.loads((root / name).read_text(encoding="utf-8"))
        text = "\n".join("".join(c["source"]) for c in student_edition(teacher, name)["cells"])
        assert gone in "\n".join("".join(c["source"]) for c in teacher["cells"])
        assert gone not in text and "check_" in text, name

"""Notebook hygiene: every lesson is committed clean and follows the course's conventions.

nbval executes the notebooks (see pyproject.toml); this file checks what is committed:

* valid nbformat 4, Python 3 kernel, named ``NN_topic.ipynb``;
* no outputs and no execution counts - except on cells marked ``# NBVAL_CHECK_OUTPUT``,
  whose stored text output IS the expected value nbval compares the fresh run with
  (nbval skips the comparison for a cell without an execution count, so such a cell
  must keep its count and its text output, and nothing else: no image, no HTML);
* a markdown title with the lesson's Objectives first, a Summary heading;
* thin: imports lessons_lib, defines no model or loss class (``class X(nn.Module)``
  belongs in the package), and has at least one exercise graded by a
  ``lessons_lib.exercises.check_*`` function.

To clean a notebook after working in it (keeps the expected outputs of the
NBVAL_CHECK_OUTPUT cells, so run the notebook top to bottom first when those change)::

    python tests/test_notebooks_clean.py notebooks/*.ipynb
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHECK_MARK = "NBVAL_CHECK_OUTPUT"
TEXT_ONLY = {"text/plain"}
# `class Foo(nn.Module)`, `class Foo(torch.nn.Module)`, `class Foo(Module)`, `class L(_Loss)`
MODULE_CLASS = re.compile(r"^\s*class\s+\w+\s*\([^)]*\b(?:nn\.Module|Module|_Loss)\b", re.M)


def _is_check_cell(cell) -> bool:
    return cell.cell_type == "code" and re.search(rf"^\s*#\s*{CHECK_MARK}\b", cell.source, re.M) is not None


def _code(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def output_problems(nb) -> list[str]:
    """Everything about outputs and execution counts that should not be committed."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if not _is_check_cell(cell):
            if cell.outputs:
                problems.append(f"cell {i} carries {len(cell.outputs)} output(s)")
            if cell.execution_count is not None:
                problems.append(f"cell {i} has an execution count ({cell.execution_count})")
            continue
        if cell.execution_count is None or not cell.outputs:
            problems.append(
                f"cell {i} is marked {CHECK_MARK} but has no stored output and count: nbval would "
                "not compare it; run the notebook and clean it with this file's script"
            )
        for out in cell.outputs:
            if out.output_type == "stream" and out.name == "stdout":
                continue
            if out.output_type == "execute_result" and set(out.data) <= TEXT_ONLY:
                continue
            kinds = sorted(out.get("data", {})) or [out.output_type + ":" + str(out.get("name", ""))]
            problems.append(f"cell {i} ({CHECK_MARK}) stores a non-text output {kinds}: print() the value instead")
    return problems


def clean_notebook(nb):
    """Strip outputs, counts and run metadata; keep the text outputs of check cells (renumbered)."""
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("scrolled", None)
        cell.metadata.pop("collapsed", None)
        if cell.cell_type != "code":
            continue
        if _is_check_cell(cell) and cell.outputs:
            count += 1
            cell.execution_count = count
            kept = []
            for out in cell.outputs:
                if out.output_type == "stream" and out.name == "stdout":
                    kept.append(out)
                elif out.output_type == "execute_result":
                    out.data = {k: v for k, v in out.data.items() if k in TEXT_ONLY}
                    out.metadata = {}
                    out.execution_count = count
                    kept.append(out)
            cell.outputs = kept
        else:
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    return nb


# --------------------------------------------------------------------------- the lessons
def test_the_lessons_exist():
    names = [p.name for p in NOTEBOOKS]
    assert "00_color_and_data.ipynb" in names, f"lesson 00 is missing; notebooks: {names}"


@pytest.fixture(params=NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def notebook(request):
    path = request.param
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    return path, nb


def test_valid_nbformat_4_with_a_python3_kernel(notebook):
    path, nb = notebook
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), f"{path.name}: name lessons NN_topic.ipynb"
    assert nb.nbformat == 4, f"{path.name}: nbformat {nb.nbformat}, expected 4"
    nbformat.validate(nb)
    kernel = nb.metadata.get("kernelspec", {})
    assert kernel.get("name") == "python3", f"{path.name}: kernelspec {kernel}, expected python3"
    assert kernel.get("language") == "python"


def test_committed_without_outputs(notebook):
    path, nb = notebook
    problems = output_problems(nb)
    assert not problems, f"{path.name}: " + "; ".join(problems) + f" (clean it: python {Path(__file__).relative_to(ROOT)} {path.relative_to(ROOT)})"


def test_opens_with_a_title_and_objectives_and_ends_with_a_summary(notebook):
    path, nb = notebook
    first = nb.cells[0]
    assert first.cell_type == "markdown", f"{path.name}: the first cell must be markdown"
    assert first.source.lstrip().startswith("# "), f"{path.name}: the first cell must start with a '# Title'"
    assert "Objectives" in first.source, f"{path.name}: the first cell must list the lesson's Objectives"
    headings = [ln for c in nb.cells if c.cell_type == "markdown" for ln in c.source.splitlines()]
    assert any(re.match(r"#+\s*Summary\b", ln) for ln in headings), f"{path.name}: no 'Summary' heading"


def test_thin_lessons_import_the_package_and_define_no_model(notebook):
    path, nb = notebook
    code = _code(nb)
    assert re.search(r"^\s*(from lessons_lib\b|import lessons_lib\b)", code, re.M), f"{path.name}: does not import lessons_lib"
    defined = MODULE_CLASS.findall(code)
    assert not MODULE_CLASS.search(code), (
        f"{path.name} defines a model/loss class ({defined}); put it in lessons_lib and import it"
    )


def test_has_an_exercise_with_its_automatic_check(notebook):
    path, nb = notebook
    code = _code(nb)
    assert re.search(r"lessons_lib\.exercises|from lessons_lib import[^\n]*\bexercises\b", code), (
        f"{path.name}: import the checks from lessons_lib.exercises"
    )
    assert re.search(r"\bcheck_\w+\(", code), f"{path.name}: no exercise check (check_...(...)) is called"


# --------------------------------------------------------------------------- the rules themselves
def _toy_notebook():
    nb = nbformat.v4.new_notebook()
    plain = nbformat.v4.new_code_cell("x = 1\nx", execution_count=3)
    plain.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "1"}, execution_count=3)]
    checked = nbformat.v4.new_code_cell(f"# {CHECK_MARK}\nprint(2)\n2", execution_count=4)
    checked.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="2\n"),
        nbformat.v4.new_output("execute_result", {"text/plain": "2", "text/html": "<b>2</b>"}, execution_count=4),
        nbformat.v4.new_output("display_data", {"image/png": "iVBOR"}),
    ]
    checked.metadata["execution"] = {"iopub.status.busy": "2024-01-01"}
    unrun_check = nbformat.v4.new_code_cell(f"# {CHECK_MARK}\nprint(3)")
    nb.cells = [plain, checked, unrun_check]
    return nb


def test_rules_catch_outputs_counts_images_and_unrun_checks():
    problems = output_problems(_toy_notebook())
    assert "cell 0 carries 1 output(s)" in problems
    assert "cell 0 has an execution count (3)" in problems
    assert any("cell 1" in p and "text/html" in p for p in problems)
    assert any("cell 1" in p and "image/png" in p for p in problems)
    assert any(p.startswith("cell 2 is marked") for p in problems)


def test_clean_keeps_only_the_expected_text_of_check_cells():
    nb = clean_notebook(_toy_notebook())
    plain, checked, unrun = nb.cells
    assert plain.outputs == [] and plain.execution_count is None
    assert checked.execution_count == 1 and "execution" not in checked.metadata
    assert [o.output_type for o in checked.outputs] == ["stream", "execute_result"]
    assert checked.outputs[1].data == {"text/plain": "2"}
    assert output_problems(nb) == ["cell 2 is marked NBVAL_CHECK_OUTPUT but has no stored output and count: "
                                   "nbval would not compare it; run the notebook and clean it with this file's script"]
    assert MODULE_CLASS.search("class G(nn.Module):") and MODULE_CLASS.search("class D(torch.nn.Module):")
    assert MODULE_CLASS.search("class Loss(_Loss):") and not MODULE_CLASS.search("class Config:")


if __name__ == "__main__":  # python tests/test_notebooks_clean.py notebooks/*.ipynb
    for arg in sys.argv[1:] or map(str, NOTEBOOKS):
        book = nbformat.read(arg, as_version=4)
        nbformat.write(clean_notebook(book), arg)
        left = output_problems(book)
        print(f"cleaned {arg}" + (f" - still: {'; '.join(left)}" if left else ""))

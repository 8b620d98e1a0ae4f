"""A lesson's numbers name their source (issue 23): every measured figure in a lesson's prose is
a figure of a named RESULTS.md run (and occurs there), is printed by the lesson (checked on the
executed lessons by the course test), comes from a cited paper, or is marked as not measured.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lessons_lib.classroom.prose import paragraphs, prose_problems, results_section, unprinted_figures

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RESULTS = (ROOT / "benchmarks" / "RESULTS.md").read_text()


def _nb(*cells: str, outputs: dict[int, str] | None = None) -> dict:
    out = []
    for i, text in enumerate(cells):
        if text.startswith("CODE:"):
            out.append({"cell_type": "code", "source": text[5:],
                        "outputs": [{"output_type": "stream", "name": "stdout", "text": (outputs or {}).get(i, "")}]})
        else:
            out.append({"cell_type": "markdown", "source": text})
    return {"cells": out}


_RES = """# Results

## Issue 1: the first run

PSNR 28.34 dB against 26.70 for the blurred input.

### a sub-section

SSIM 0.900.

## Issue 2: another run

PSNR 19.67 dB.
"""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_measured_figure_in_a_lesson_names_its_source(path):
    problems = prose_problems(json.loads(path.read_text()), RESULTS)
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


def test_a_figure_with_no_source_is_found():
    nb = _nb("The fusion scores 28.34 dB, 0.97 dB below x_R.")
    (problem,) = prose_problems(nb, _RES)
    assert "cell 0" in problem and "28.34, 0.97" in problem and "no source" in problem


def test_a_cited_figure_must_be_in_the_cited_section():
    ok = _nb('The fusion scores 28.34 dB against 26.70 (RESULTS.md, "Issue 1: the first run").')
    assert prose_problems(ok, _RES) == []
    drifted = _nb('The fusion scores 28.43 dB against 26.70 (RESULTS.md, "Issue 1: the first run").')
    (problem,) = prose_problems(drifted, _RES)
    assert "28.43 not in RESULTS.md" in problem
    wrong_section = _nb('x_G scores 19.67 dB (RESULTS.md, "Issue 1").')
    assert "19.67 not in" in prose_problems(wrong_section, _RES)[0]
    missing = _nb('x_G scores 19.67 dB (RESULTS.md, "Issue 9").')
    assert 'no section "Issue 9"' in prose_problems(missing, _RES)[0]
    # a sub-section belongs to its section; the next section of the same level does not
    assert "0.900" in results_section(_RES, "Issue 1") and "19.67" not in results_section(_RES, "Issue 1")
    # a digit more is another number: 28.3 is not found in "28.34"
    assert "28.3 not in" in prose_problems(_nb('PSNR 28.3 dB (RESULTS.md, "Issue 1").'), _RES)[0]


def test_a_citation_covers_its_cell_and_marks_cover_their_paragraph():
    cell = ('The run of RESULTS.md, "Issue 1: the first run":\n\n'
            "* the fusion: 28.34 dB;\n* the blur: 26.70 dB.")
    assert prose_problems(_nb(cell), _RES) == []
    assert "99.99 not in" in prose_problems(_nb(cell + "\n* x_G: 99.99 dB."), _RES)[0]
    assert prose_problems(_nb("Seed 004's fusion is 1.01 dB below NAFNet (its Table 1)."), _RES) == []
    assert prose_problems(_nb("Validations 22.0 and 21.5 dB <!-- not measured: a worked example -->."), _RES) == []
    assert prose_problems(_nb("$\\mathrm{PSNR} = 10 \\log_{10} 2 = 3.01$ dB, and `psnr(x) = 20.5`."), _RES) == []
    assert paragraphs(_nb("A 70 x 70 patch, batch 32, 64 px, sec. 3.2.")) == []       # settings, not measurements


def test_printed_figures_are_checked_against_the_executed_lesson():
    nb = _nb("CODE:print(x)", "The seeds spread by 0.12 dB, the start moved 1.93 dB (printed above).",
             outputs={0: "spread 0.12 dB\nmoved from the start by -1.93 dB\n"})
    assert prose_problems(nb, _RES) == [] and unprinted_figures(nb) == []
    drifted = _nb("CODE:print(x)", "The seeds spread by 0.12 dB, the start moved 1.93 dB (printed above).",
                  outputs={0: "spread 0.31 dB\nmoved from the start by -1.93 dB\n"})
    (problem,) = unprinted_figures(drifted)
    assert "0.12 not printed" in problem
    # a rounding of the printed value is the same figure; two units off in the last place is not
    assert unprinted_figures(_nb("CODE:x", "PSNR 22.1 dB (printed above).", outputs={0: "PSNR 22.14"})) == []
    assert unprinted_figures(_nb("CODE:x", "PSNR 22.3 dB (printed above).", outputs={0: "PSNR 22.14"}))
    # a paragraph that marks its own figures as an example is not held to the output
    example = _nb("CODE:x", "The error is printed (printed above); '23.6 dB against 23.4 dB' "
                  "<!-- not measured: an example --> compares nothing.", outputs={0: "0.25"})
    assert unprinted_figures(example) == [] and prose_problems(example, _RES) == []


def _objectives(path: Path) -> int:
    import re

    first = "".join(json.loads(path.read_text())["cells"][0]["source"])
    block = first.split("## Objectives", 1)[1].split("<!-- mode-times", 1)[0]
    return len(re.findall(r"^\d+\. ", block, flags=re.M))


def test_instructor_guide_states_the_lessons_objective_counts():
    import re

    words = {"three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
    guide = (ROOT / "notebooks" / "INSTRUCTOR.md").read_text()
    lo, hi = (words[w] for w in re.search(r"objectives \((\w+) to (\w+),", guide).groups())
    counts = {p.name[:2]: _objectives(p) for p in NOTEBOOKS}
    assert min(counts.values()) == lo and max(counts.values()) == hi, counts

"""Where a lesson's numbers come from: every measured figure in a lesson's prose names its source.

The rule (issue 23): a number in a lesson's text is printed by the lesson, or is a figure of
a named run in ``benchmarks/RESULTS.md``, or comes from a cited paper. A paragraph that
states a measured figure (a number in dB, Lab units, %, or a decimal next to a metric's
name) carries one of these marks:

* a paper, in the paragraph itself: ``et al.``, ``seed 00N``, ``sec. N``, ``Table N``,
  ``fig. N`` - the paper's own number, not the kit's;
* ``(RESULTS.md, "Heading")``: every figure of the paragraph must occur in the section of
  RESULTS.md whose heading starts with ``Heading``;
* ``(printed above)`` or ``(printed below)``: every figure must occur in the output of the
  lesson's code cells when the lesson runs in class mode with its packs (checked on the
  executed notebook by the course test, :func:`unprinted_figures`);
* ``<!-- not measured: why -->``, in the paragraph itself: a worked example, a setting, a
  hypothetical question.

A RESULTS citation or a "(printed ...)" mark anywhere in a markdown cell covers the cell's
other paragraphs and list items too (their figures are checked all the same).

:func:`prose_problems` lists the paragraphs that break the rule (a unit test runs it on every
lesson); :func:`unprinted_figures` lists the "printed" figures an executed lesson did not print.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_UNIT = r"(?:\s?dB\b|\s?Lab units\b|\s?units\b|\s?%)"
_FIGURE = re.compile(r"(?<![\w.,/])[+-]?(\d[\d,]*(?:\.\d+)?)" + _UNIT
                     + r"|(?<![\w.,/\[])(\d+\.\d+)(?![\d.]|\s?(?:M\b|px|x\b|[kK]\b))")
_METRIC = re.compile(r"PSNR|SSIM|colou?rfulness|FID|KID|sharpness|JSD|AuC|Lipschitz|power|"
                     r"distance|apart|accuracy|p-value|\bp\s?=", re.I)
_PAPER = re.compile(r"et al\.|[Ss]eed 00\d|\bsec\. ?\d|\b[Tt]able \d|\bfig\. ?\d|Goodfellow|"
                    r"Hasler|Sharma|Wang & Joe|Efron|Odena|DDColor")
_RESULTS = re.compile(r'RESULTS\.md, "([^"]+)"')
_PRINTED = re.compile(r"\(printed (?:above|below)\)")
_NOT_MEASURED = re.compile(r"<!-- not measured: [^>]+-->")


@dataclass(frozen=True)
class Paragraph:
    cell: int
    text: str
    figures: tuple[str, ...]
    cell_text: str = ""          # the whole cell: a RESULTS citation or a "(printed above)"
                                 # there covers every paragraph and list item of the cell

    @property
    def where(self) -> str:
        return f"cell {self.cell}: {' '.join(self.text.split())[:140]}"


def _clean(markdown: str) -> str:
    """The prose without the parts whose numbers are not claims: the mode-times table,
    formulas, code spans, links' targets and references' identifiers."""
    s = re.sub(r"<!-- mode-times.*?/mode-times -->", " ", markdown, flags=re.S)
    s = re.sub(r"\$\$.*?\$\$", " ", s, flags=re.S)
    s = re.sub(r"\$[^$\n]*\$", " ", s)
    s = re.sub(r"`[^`]*`", " ", s)
    s = re.sub(r"\]\([^)]*\)", "]", s)
    s = re.sub(r"\b(?:doi|arXiv):\S+", " ", s)
    return s


def paragraphs(notebook: dict) -> list[Paragraph]:
    """Every paragraph (or list item) of the lesson's markdown that states a measured figure."""
    out = []
    for i, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for para in re.split(r"\n\s*\n|\n(?=\s*[*-] )|\n(?=\d+\. )", _clean("".join(cell["source"]))):
            figs = [m.group(1) or m.group(2) for m in _FIGURE.finditer(para)]
            with_unit = any(m.group(1) for m in _FIGURE.finditer(para))
            if figs and (with_unit or _METRIC.search(para)):
                out.append(Paragraph(i, para, tuple(figs), "".join(cell["source"])))
    return out


def results_section(results: str, heading: str) -> str | None:
    """The text of the RESULTS.md section whose heading starts with ``heading``, up to the
    next heading of the same or a higher level; None when no heading matches."""
    lines = results.splitlines()
    for k, line in enumerate(lines):
        m = re.match(r"(#+) (.*)", line)
        if m and m.group(2).startswith(heading):
            level = len(m.group(1))
            end = next((j for j in range(k + 1, len(lines))
                        if re.match(r"#{1,%d} " % level, lines[j])), len(lines))
            return "\n".join(lines[k:end])
    return None


def _in(figure: str, text: str) -> bool:
    plain = figure.replace(",", "")
    pattern = r"(?<![\d.])%s(?![\d])"
    return bool(re.search(pattern % re.escape(figure), text)
                or re.search(pattern % re.escape(plain), text.replace(",", "")))


def prose_problems(notebook: dict, results: str) -> list[str]:
    """The paragraphs of a lesson whose measured figures name no source, or name a RESULTS
    section that does not hold them. Empty when the lesson keeps the rule."""
    problems = []
    for p in paragraphs(notebook):
        if _PAPER.search(p.text) or _NOT_MEASURED.search(p.text) or _PRINTED.search(p.text):
            continue
        cited = _RESULTS.findall(p.text) or _RESULTS.findall(p.cell_text)
        if not cited and _PRINTED.search(p.cell_text):
            continue
        if not cited:
            problems.append(f"{p.where} -- states {', '.join(p.figures)} with no source "
                            '(cite RESULTS.md, "Heading", mark it (printed above), or cite the paper)')
            continue
        sections = [results_section(results, h) for h in cited]
        for h, s in zip(cited, sections):
            if s is None:
                problems.append(f'{p.where} -- RESULTS.md has no section "{h}"')
        text = "\n".join(s for s in sections if s)
        missing = [f for f in p.figures if not _in(f, text)]
        if text and missing:
            problems.append(f"{p.where} -- {', '.join(missing)} not in RESULTS.md "
                            + " / ".join(f'"{h}"' for h in cited))
    return problems


def _outputs_text(cell: dict) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if "text" in o:
            parts.append("".join(o["text"]))
        for key in ("text/plain", "text/html", "text/markdown"):
            if key in o.get("data", {}):
                parts.append("".join(o["data"][key]))
    return "\n".join(parts)


def _printed_match(figure: str, printed: str) -> bool:
    """True when the output holds the figure, up to one unit in its last decimal place
    (a rounding of the same measurement)."""
    value = float(figure.replace(",", ""))
    decimals = len(figure.split(".")[1]) if "." in figure else 0
    for m in re.finditer(r"[+-]?\d[\d,]*(?:\.\d+)?", printed):
        try:
            v = float(m.group(0).replace(",", ""))
        except ValueError:
            continue
        if abs(abs(v) - value) <= 10 ** -decimals + 1e-9:
            return True
    return False


def unprinted_figures(executed: dict) -> list[str]:
    """In an executed lesson, the figures of "(printed above/below)" paragraphs that no code
    cell printed: the prose and the output have drifted apart."""
    printed = "\n".join(_outputs_text(c) for c in executed["cells"] if c["cell_type"] == "code")
    problems = []
    for p in paragraphs(executed):
        if _PAPER.search(p.text) or _NOT_MEASURED.search(p.text) or _RESULTS.search(p.text):
            continue            # the paragraph names another source for its figures
        if _PRINTED.search(p.text) or (_PRINTED.search(p.cell_text) and not _RESULTS.search(p.cell_text)):
            missing = [f for f in p.figures if not _printed_match(f, printed)]
            if missing:
                problems.append(f"{p.where} -- {', '.join(missing)} not printed by the lesson")
    return problems

"""Packaging: pyproject.toml, environment.yml and the README's two commands agree.

A new user either runs the README's set-up command (pip) or creates the conda
environment; both must give the same packages with the same lower bounds, admit the
PyTorch builds on the course and GPU machines, and install the ``lessons`` command.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser lives in the tomli backport
    tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml on Python 3.10 needs tomli")

ROOT = Path(__file__).resolve().parents[1]

# conda-forge name -> PyPI name, where they differ (documented in environment.yml).
# gradio-client / gradio_client need no entry: PEP 503 normalisation makes them equal.
CONDA_TO_PYPI = {"pytorch": "torch"}
# Entries of environment.yml that are not packages of pyproject.toml.
CONDA_ONLY = {"python", "pip"}

SETUP_COMMAND = 'pip install -e ".[dev]"'
TEST_COMMAND = "pytest"


# --------------------------------------------------------------------------- helpers
def _strip_comment(line: str) -> str:
    # A YAML comment starts at a '#' that begins the line or follows a space.
    m = re.search(r"(^|\s)#", line)
    return line[: m.start()] if m else line


def parse_environment_yml(text: str) -> dict:
    """Parse the small subset of YAML that conda environment files use.

    Top-level ``key: value`` pairs and ``key:`` followed by a list of ``- item`` lines;
    an item ``- pip:`` opens a nested list (the pip requirements). Returns e.g.
    ``{"name": "gan-lessons", "channels": [...], "dependencies": ["python>=3.10", ...,
    {"pip": [...]}]}``. Anything else raises ValueError naming the line, so a file
    this parser would misread fails the test instead of passing by accident.
    """
    doc: dict = {}
    key: str | None = None
    nested: list | None = None  # the list of a "- pip:" item
    nested_indent = -1
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        if indent == 0:
            m = re.fullmatch(r"([A-Za-z_][\w-]*):\s*(.*)", body)
            if not m:
                raise ValueError(f"environment.yml line {lineno}: expected 'key:' or 'key: value', got {raw!r}")
            key, value = m.group(1), m.group(2).strip()
            nested = None
            doc[key] = value.strip("'\"") if value else []
            continue
        if not body.startswith("- ") and body != "-":
            raise ValueError(f"environment.yml line {lineno}: expected a list item '- ...', got {raw!r}")
        item = body[1:].strip().strip("'\"")
        if key is None or not isinstance(doc.get(key), list):
            raise ValueError(f"environment.yml line {lineno}: list item outside a list: {raw!r}")
        if nested is not None and indent > nested_indent:
            nested.append(item)
            continue
        nested = None
        if item.endswith(":"):
            nested = []
            nested_indent = indent
            doc[key].append({item[:-1].strip(): nested})
        else:
            doc[key].append(item)
    return doc


def _conda_spec(entry: str) -> tuple[str, SpecifierSet]:
    """'pytorch>=2.4' -> ('torch', SpecifierSet('>=2.4')), names mapped to PyPI's."""
    m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)", entry)
    if not m:
        raise ValueError(f"cannot read the conda dependency {entry!r}")
    name, spec = m.group(1), m.group(2).replace(" ", "")
    name = CONDA_TO_PYPI.get(canonicalize_name(name), canonicalize_name(name))
    return name, SpecifierSet(spec)


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pyproject_requirements() -> dict[str, SpecifierSet]:
    project = _pyproject()["project"]
    reqs = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    out: dict[str, SpecifierSet] = {}
    for r in map(Requirement, reqs):
        name = canonicalize_name(r.name)
        assert name not in out, f"{r.name} is listed twice in pyproject.toml"
        out[name] = r.specifier
    return out


def _environment() -> dict:
    path = ROOT / "environment.yml"
    assert path.is_file(), "environment.yml is missing at the repository root"
    return parse_environment_yml(path.read_text())


def _environment_requirements() -> tuple[dict[str, SpecifierSet], list[str], list[str]]:
    """(package -> specifier, conda-only entries, pip entries that are not packages)."""
    out: dict[str, SpecifierSet] = {}
    conda_only: list[str] = []
    pip_other: list[str] = []

    def add(name: str, spec: SpecifierSet, where: str) -> None:
        assert name not in out, f"{name} is listed twice in environment.yml ({where})"
        out[name] = spec

    for dep in _environment()["dependencies"]:
        if isinstance(dep, dict):
            for pip_entry in dep.get("pip", []):
                if pip_entry.startswith("-"):  # "-e .": the project itself
                    pip_other.append(pip_entry)
                    continue
                r = Requirement(pip_entry)
                add(canonicalize_name(r.name), r.specifier, "pip")
            continue
        name, spec = _conda_spec(dep)
        if name in CONDA_ONLY:
            conda_only.append(dep)
        else:
            add(name, spec, "conda")
    return out, conda_only, pip_other


# --------------------------------------------------------------------------- the parser itself
def test_parser_reads_the_conda_subset():
    text = (
        "# comment\nname: demo  # trailing\nchannels:\n  - conda-forge\n"
        "dependencies:\n  - python>=3.10\n  - numpy >=1.24\n  - pip\n  - pip:\n      - rich>=13\n      - -e .\n"
    )
    assert parse_environment_yml(text) == {
        "name": "demo",
        "channels": ["conda-forge"],
        "dependencies": ["python>=3.10", "numpy >=1.24", "pip", {"pip": ["rich>=13", "-e ."]}],
    }
    with pytest.raises(ValueError, match="line 2"):
        parse_environment_yml("dependencies:\n  numpy: 1\n")
    with pytest.raises(ValueError, match="outside a list"):
        parse_environment_yml("name: x\n  - numpy\n")


def test_parser_agrees_with_pyyaml_when_installed():
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed; the hand parser is tested above")
    text = (ROOT / "environment.yml").read_text()
    assert parse_environment_yml(text) == yaml.safe_load(text)


# --------------------------------------------------------------------------- environment.yml
def test_environment_yml_shape():
    env = _environment()
    assert env["name"] == "gan-lessons"
    assert "conda-forge" in env["channels"]
    _, conda_only, pip_other = _environment_requirements()
    python = [e for e in conda_only if _conda_spec(e)[0] == "python"]
    assert python, "environment.yml must pin python"
    assert "pip" in conda_only, "environment.yml must install pip (for the pip section)"
    assert "-e ." in pip_other, "environment.yml must install the project itself (- -e . in the pip section)"


def test_environment_and_pyproject_list_the_same_packages():
    py = _pyproject_requirements()
    env, _, _ = _environment_requirements()
    only_py, only_env = sorted(set(py) - set(env)), sorted(set(env) - set(py))
    assert not only_py and not only_env, (
        f"pyproject.toml and environment.yml disagree: only in pyproject {only_py}, "
        f"only in environment.yml {only_env} (conda names are mapped by {CONDA_TO_PYPI})"
    )


def test_environment_and_pyproject_agree_on_version_bounds():
    py = _pyproject_requirements()
    env, _, _ = _environment_requirements()
    differ = {n: (str(py[n]), str(env[n])) for n in set(py) & set(env) if py[n] != env[n]}
    assert not differ, f"version bounds differ (pyproject, environment.yml): {differ}"


# --------------------------------------------------------------------------- pyproject.toml
def test_requires_python_is_3_10_or_newer():
    spec = SpecifierSet(_pyproject()["project"]["requires-python"])
    assert spec.contains("3.10") and spec.contains("3.12") and spec.contains("3.13")
    assert not spec.contains("3.9"), "requires-python must be >=3.10"
    _, conda_only, _ = _environment_requirements()
    env_python = next(_conda_spec(e)[1] for e in conda_only if _conda_spec(e)[0] == "python")
    assert env_python == spec, f"environment.yml pins python {env_python}, pyproject {spec}"


def test_depends_on_what_the_lessons_need():
    # The packages issue 2 names: a clean install must bring all of them.
    needed = {"torch", "torchvision", "jupyterlab", "ipywidgets", "gradio", "matplotlib",
              "nbval", "scikit-image", "safetensors", "tqdm"}
    deps = {canonicalize_name(Requirement(r).name) for r in _pyproject()["project"]["dependencies"]}
    assert needed <= deps, f"missing runtime dependencies: {sorted(needed - deps)}"
    dev = {canonicalize_name(Requirement(r).name) for r in _pyproject()["project"]["optional-dependencies"]["dev"]}
    assert "pytest" in dev


@pytest.mark.parametrize(
    "package, versions",
    [("torch", ["2.14.1", "2.11", "2.11.0"]), ("torchvision", ["0.29.1", "0.26", "0.26.0"])],
)
def test_torch_ranges_admit_the_course_machines(package, versions):
    # torch 2.14.1 / torchvision 0.29.1 on the course machines, 2.11 / 0.26 on the GPU ones.
    for source, reqs in (("pyproject.toml", _pyproject_requirements()), ("environment.yml", _environment_requirements()[0])):
        spec = reqs[package]
        rejected = [v for v in versions if not spec.contains(v)]
        assert not rejected, f"{source}: {package}{spec} rejects {rejected}"


def test_console_script_points_to_the_cli():
    scripts = _pyproject()["project"]["scripts"]
    assert scripts.get("lessons") == "lessons_lib.cli:main"
    from lessons_lib import __version__
    from lessons_lib.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert _pyproject()["project"]["version"] == __version__, "pyproject version and lessons_lib.__version__ differ"


# --------------------------------------------------------------------------- the two commands
def _first_lines(path: Path, n: int) -> str:
    return "\n".join(path.read_text().splitlines()[:n])


def test_readme_starts_with_the_two_commands():
    readme = ROOT / "README.md"
    assert readme.is_file(), "README.md is missing: it must give the set-up and test commands"
    head = _first_lines(readme, 15)
    assert SETUP_COMMAND in head, f"README.md's first 15 lines must give the set-up command {SETUP_COMMAND}"
    assert re.search(r"^\s*(\$\s*)?pytest\b", head, re.M), "README.md's first 15 lines must give the test command `pytest` on its own line"


def test_ci_runs_the_readme_commands():
    ci = ROOT / ".ci" / "run"
    assert ci.is_file(), ".ci/run is missing: CI must run the README's commands"
    text = ci.read_text()
    assert SETUP_COMMAND in text, f".ci/run must run the README's set-up command {SETUP_COMMAND}"
    assert re.search(r"(^|[\s;&|(])(python -m )?pytest\b", text, re.M), ".ci/run must run the README's test command pytest"

"""The grading framework of the exercises (see the package docstring).

Automatic checks for the lessons' exercises: grade a student's answer, give a hint.

Every exercise of the course has one ``check_*`` function here. A student writes a piece
of the system (a normalisation, a loss, a block) in a notebook cell and passes it to the
check, which compares it with the package's own reference implementation on a few fixed
cases and answers with a :class:`Result`:

    >>> from lessons_lib.exercises import check_lab_normalization
    >>> check_lab_normalization(my_normalize_lab)          # doctest: +SKIP
    Correct! Lab normalisation: matches lessons_lib.color.normalize_lab on 3 cases ...

A wrong answer never raises: the student reads the hint (the shape is wrong, the values
are off by a constant factor, a known common mistake, the exception the function raised)
and tries again. ``bool(result)`` says whether it passed, so a notebook or a test can use
it in an ``if`` or an ``assert``.

Adding an exercise for a later lesson takes three steps, all with the helpers below:

1. cases: a few ``Case(name, args)`` with fixed, seeded inputs (small tensors: the
   check runs in a notebook in well under a second);
2. mistakes: the common wrong answers as ``Mistake(hint, fn)``; when the student's output
   equals a mistake's output the hint names that mistake;
3. ``check_function(exercise, student_fn, reference_fn, cases, mistakes=...)`` - or, when
   many answers are right (any gray that keeps L), pass ``judge=`` a property check.

For a single number (a receptive field, a parameter count) use :func:`check_value`; but
an exercise whose answer is a number should ask for the *function* that computes it (of
the layer list, of the channel counts), checked on settings the notebook never shows, so
that a number copied from the next cell does not pass.

Two rules make a check test the student's own work:

* ``forbid=``: the package's implementation of the same thing (and any shortcut to it, a
  builtin such as ``torch.conv2d`` included) is replaced by a trap while the student's
  function runs (:class:`CallWatch`): a Python function's code is swapped for the trap's,
  so every alias of it is caught; a builtin is replaced wherever a module, the student's
  namespace or the function's closure holds it; a ``sys.setprofile`` hook watches besides.
  Calling one fails the check with a hint, however it was imported, in a thread too, and
  after ``sys.setprofile(None)``; everything is put back after the call, on an error too.
  :class:`Forbid` narrows a trap to some arguments (``torch.linalg.norm`` of a matrix, not
  of a vector);
* a student's function that still raises ``NotImplementedError`` (the student edition's
  stub) gives a "Not done yet" verdict (``Result.status == "not_done"``), never a failure of
  the notebook.

When ``LESSONS_GRADEBOOK`` names a file, every verdict of a ``check_*`` function on a named
function (not a ``lambda``: the lessons' demonstrations pass lambdas) is appended to it as
one JSON line, a log for the student's own use. ``lessons course grade`` does not read it
(the student's kernel could write it): it injects the instructor's hidden checks and reads
what they print (lessons_lib.classroom.grading).
"""
from __future__ import annotations

import functools
import html
import json
import math
import os
import sys
import threading
import traceback
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch


__all__ = [
    "Result",
    "Case",
    "Mistake",
    "compare_tensors",
    "check_function",
    "check_value",
    "CallWatch",
    "Forbid",
    "graded",
    "run_student",
    "GRADEBOOK_ENV",
]

GRADEBOOK_ENV = "LESSONS_GRADEBOOK"


# --------------------------------------------------------------------------- the verdict
@dataclass
class Result:
    """The verdict of a check: ``passed`` plus the hints that say what to fix.

    ``bool(result)`` is ``result.passed``. In Jupyter the result shows as a green or red
    box (``_repr_html_``); ``print(result)`` gives the same text without colours.
    """

    exercise: str
    passed: bool
    hints: list[str] = field(default_factory=list)
    detail: str = ""
    not_done: bool = False      # the student's function is still the stub (raises NotImplementedError)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def status(self) -> str:
        """``"passed"``, ``"wrong"`` or ``"not_done"`` (the gradebook's three verdicts)."""
        return "passed" if self.passed else ("not_done" if self.not_done else "wrong")

    @property
    def message(self) -> str:
        """The verdict as plain text (what ``print`` shows)."""
        if self.not_done:
            return (f"Not done yet - {self.exercise}: write your code in place of the "
                    "`raise NotImplementedError` line, then run this cell again.")
        if self.passed:
            return f"Correct! {self.exercise}" + (f": {self.detail}" if self.detail else "")
        lines = [f"Not yet - {self.exercise}."]
        lines += [f"  Hint: {h}" for h in self.hints] or ["  Hint: the answer does not match the reference."]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return self.message

    def _repr_html_(self) -> str:
        colour, border = {"passed": ("#e9f7ef", "#2e7d32"), "wrong": ("#fdecea", "#c62828"),
                          "not_done": ("#fff8e1", "#f9a825")}[self.status]
        body = html.escape(self.message).replace("\n", "<br>")
        return (
            f'<div style="background:{colour};border-left:4px solid {border};'
            f'padding:6px 10px;font-family:monospace;white-space:pre-wrap">{body}</div>'
        )


@dataclass
class Case:
    """One input on which the student's function is compared with the reference.

    ``args`` are passed positionally; tensors are cloned for each call, so a function that
    modifies its input in place cannot change what the reference sees (and is told so).
    """

    name: str
    args: tuple


@dataclass
class Mistake:
    """A common wrong answer: when the student's output equals ``fn(*args)``, show ``hint``."""

    hint: str
    fn: Callable[..., Any]


# --------------------------------------------------------------------------- the student's own work
def _describe_callable(fn: Any) -> str:
    """A readable name: ``lessons_lib.losses.adversarial.GANLoss.d_loss``, ``torch.conv2d``."""
    if not hasattr(fn, "__code__"):                     # a builtin: torch's C functions have odd modules
        return f"torch.{fn.__name__}" if "torch" in repr(fn) or (getattr(fn, "__module__", "") or "").startswith(
            "torch") else getattr(fn, "__name__", repr(fn))
    mod = getattr(fn, "__module__", None) or ""
    qual = getattr(fn, "__qualname__", None) or fn.__name__
    return f"{mod}.{qual}" if mod else qual


@dataclass(frozen=True)
class Forbid:
    """A forbidden callable that is forbidden only for some arguments: the trap fires when
    ``when(*args, **kwargs)`` is true and otherwise calls the original (``np.linalg.norm`` of
    a vector is allowed in a power iteration, of a matrix with ``ord=2`` it is the answer)."""

    fn: Callable[..., Any]
    when: Callable[..., bool]
    name: str = ""


#: the watches whose traps are armed now (a trap called in any thread reports to each)
_ARMED: list["CallWatch"] = []
#: the originals of the code-swapped functions, by trap key: (name, a copy of the function)
_ORIGINALS: dict[int, tuple[str, Callable[..., Any]]] = {}
_ARMED_LOCK = threading.RLock()
_KEYS = iter(range(1, sys.maxsize))


def _called(name: str) -> None:
    """A trap was called: record it in every armed watch (the call then goes on, as before)."""
    with _ARMED_LOCK:
        for watch in _ARMED:
            watch._record(name)


def _through(key: int) -> Callable[..., Any]:
    """What a code-swapped function's trap calls: record the call, return the original."""
    name, original = _ORIGINALS[key]
    _called(name)
    return original


def _trap_code(code: types.CodeType, key: int) -> types.CodeType | None:
    """A code object that records the call (``_through(key)``) and calls the original, with the
    same free variables as ``code`` (a function's ``__code__`` may only be swapped for one
    with as many), or None."""
    free = code.co_freevars
    src = "def _outer():\n" + "".join(f"    {v} = None\n" for v in free)
    src += "    def _trap(*args, **kwargs):\n"
    if free:
        src += f"        ({', '.join(free)},)\n"
    src += f"        return __import__({__name__!r}, fromlist=['_through'])._through({key})(*args, **kwargs)\n"
    src += "    return _trap\n"
    scope: dict[str, Any] = {}
    try:
        exec(compile(src, f"<trap {key}>", "exec"), scope)  # noqa: S102 - our own generated source
    except SyntaxError:  # pragma: no cover - a free variable that is no identifier
        return None
    trap = scope["_outer"]().__code__
    return trap if trap.co_freevars == free else None


def _copy_function(fn: types.FunctionType) -> types.FunctionType:
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__dict__.update(fn.__dict__)
    return copy


def _module_dicts() -> list[dict[str, Any]]:
    """The namespaces of every loaded module (a lazy or odd entry of sys.modules is passed over)."""
    out = []
    for module in list(sys.modules.values()):
        try:
            space = object.__getattribute__(module, "__dict__")
        except Exception:  # noqa: BLE001 - not a plain object: nothing of ours can be there
            continue
        if isinstance(space, dict):
            out.append(space)
    return out


def _namespace_trap(original: Any, name: str, when: Callable[..., bool] | None) -> Callable[..., Any]:
    def trap(*args: Any, **kwargs: Any) -> Any:
        if when is None or when(*args, **kwargs):
            _called(name)
        return original(*args, **kwargs)

    trap.__name__ = getattr(original, "__name__", "trap")
    trap.__doc__ = getattr(original, "__doc__", None)
    trap.__lessons_trap__ = original  # type: ignore[attr-defined]
    return trap


class CallWatch:
    """Forbid some functions while a block of code runs, however the block calls them.

    ``targets`` are Python functions or methods, builtins such as ``torch.conv2d``, any other
    callable (``np.linalg.norm``), or :class:`Forbid` (a callable forbidden for some
    arguments). While the block runs:

    * a Python function's ``__code__`` is swapped for a trap's, so the function object itself
      traps, under any alias, in any thread, after ``sys.setprofile(None)`` too;
    * any other callable is replaced by a trap wherever a loaded module's namespace, the
      ``namespaces`` given (the student's globals) or the student's closure cells and
      defaults hold it (``F.conv2d`` is ``torch.conv2d``: both places are trapped);
    * a ``sys.setprofile`` hook also records a builtin called through an alias kept
      elsewhere, in this thread.

    A trap records the call in :attr:`hits` and calls the original (the check then fails with
    a hint naming every forbidden call). Everything is put back on leaving the block, on an
    error too::

        with CallWatch([GANLoss.d_loss], student=student_fn) as watch:
            student_fn(real, fake)
        watch.hits          # ['lessons_lib.losses.adversarial.GANLoss.d_loss'] if it was called
    """

    def __init__(self, targets: Sequence[Any] = (), student: Any = None):
        self._codes: dict[Any, str] = {}
        self._builtins: dict[int, str] = {}
        self._functions: list[tuple[types.FunctionType, str]] = []      # code-swapped
        self._replaced: dict[int, tuple[Any, str, Callable[..., bool] | None]] = {}  # by namespace
        for target in targets:
            when = None
            if isinstance(target, Forbid):
                target, when, label = target.fn, target.when, target.name
            else:
                label = ""
            raw = getattr(target, "__func__", target)             # a bound or class method -> its function
            raw = getattr(raw, "fget", raw)                       # a property -> its getter
            name = label or _describe_callable(raw)
            code = getattr(raw, "__code__", None)
            if when is None and isinstance(raw, types.FunctionType) and code is not None:
                if code in self._codes:          # listed twice (a reference that is also in forbid=)
                    continue
                self._codes[code] = name
                self._functions.append((raw, name))
            else:
                if when is None:
                    self._builtins[id(raw)] = name
                self._replaced[id(raw)] = (raw, name, when)
        self._student = student
        self.hits: list[str] = []
        self._lock = threading.Lock()
        self._previous = None
        self._undo: list[Callable[[], None]] = []

    def _record(self, name: str) -> None:
        with self._lock:
            if name not in self.hits:
                self.hits.append(name)

    def _hook(self, frame, event, arg) -> None:
        if event == "call":
            name = self._codes.get(frame.f_code)
        elif event == "c_call":
            name = self._builtins.get(id(arg))
        else:
            return
        if name is not None:
            self._record(name)

    # ------------------------------------------------------------------ the traps
    def _student_places(self) -> tuple[list[dict[str, Any]], list[Any]]:
        """The student's namespaces (globals of the function and of functions in its closure)
        and the functions whose closure cells and defaults may hold a forbidden callable."""
        spaces: list[dict[str, Any]] = []
        funcs: list[Any] = []
        todo = [self._student]
        while todo and len(funcs) < 16:
            fn = todo.pop()
            fn = getattr(fn, "__func__", fn)
            if not isinstance(fn, types.FunctionType) or any(fn is f for f in funcs):
                continue
            funcs.append(fn)
            if not any(fn.__globals__ is g for g in spaces):
                spaces.append(fn.__globals__)
            for cell in fn.__closure__ or ():
                try:
                    todo.append(cell.cell_contents)
                except ValueError:          # an empty cell
                    pass
            wrapped = getattr(fn, "__wrapped__", None)
            if wrapped is not None:
                todo.append(wrapped)
        return spaces, funcs

    def _arm(self) -> None:
        for fn, name in self._functions:
            key = next(_KEYS)
            trap = _trap_code(fn.__code__, key)
            if trap is None:                 # pragma: no cover - cannot swap: trap it by namespace
                self._replaced[id(fn)] = (fn, name, None)
                continue
            with _ARMED_LOCK:
                _ORIGINALS[key] = (name, _copy_function(fn))
            original = fn.__code__
            fn.__code__ = trap
            self._undo.append(lambda fn=fn, original=original, key=key: (setattr(fn, "__code__", original),
                                                                          _ORIGINALS.pop(key, None)))
        if not self._replaced:
            return
        traps = {key: _namespace_trap(obj, name, when) for key, (obj, name, when) in self._replaced.items()}
        spaces, funcs = self._student_places()
        for space in _module_dicts() + spaces:
            if not isinstance(space, dict):
                continue
            for key, value in list(space.items()):
                trap = traps.get(id(value))
                if trap is not None and self._replaced[id(value)][0] is value:
                    space[key] = trap
                    self._undo.append(lambda space=space, key=key, value=value: space.__setitem__(key, value))
        for fn in funcs:
            for cell in fn.__closure__ or ():
                try:
                    value = cell.cell_contents
                except ValueError:
                    continue
                if id(value) in traps and self._replaced[id(value)][0] is value:
                    cell.cell_contents = traps[id(value)]
                    self._undo.append(lambda cell=cell, value=value: setattr(cell, "cell_contents", value))
            if fn.__defaults__ and any(id(v) in traps for v in fn.__defaults__):
                old = fn.__defaults__
                fn.__defaults__ = tuple(traps.get(id(v), v) if self._replaced.get(id(v), (None,))[0] is v else v
                                        for v in old)
                self._undo.append(lambda fn=fn, old=old: setattr(fn, "__defaults__", old))

    def _disarm(self) -> None:
        while self._undo:
            self._undo.pop()()

    def __enter__(self) -> "CallWatch":
        if self._codes or self._replaced:
            with _ARMED_LOCK:
                _ARMED.append(self)
            try:
                self._arm()
            except BaseException:
                self._disarm()
                with _ARMED_LOCK:
                    _ARMED.remove(self)
                raise
            self._previous = sys.getprofile()
            sys.setprofile(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        if self._codes or self._replaced:
            sys.setprofile(self._previous)
            self._disarm()
            with _ARMED_LOCK:
                if self in _ARMED:
                    _ARMED.remove(self)


def _forbidden_hint(hits: Sequence[str]) -> str:
    names = ", ".join(f"`{h}`" for h in hits)
    return (f"your function calls {names}: that is the package's (or torch's) implementation of what this "
            "exercise asks you to write. Write the computation yourself from the equation; the check runs "
            "your code with those calls watched.")


def _answer_name(answer: Any) -> str:
    name = getattr(answer, "__name__", None)
    return name if isinstance(name, str) else type(answer).__name__


def graded(check: Callable[..., "Result"]) -> Callable[..., "Result"]:
    """Wrap a ``check_*`` function so that its verdict reaches the gradebook.

    When the environment variable ``LESSONS_GRADEBOOK`` names a file, each verdict on a
    student's *named* answer (a ``def``, not a ``lambda``) is appended as one JSON line
    ``{"check", "exercise", "answer", "status"}``; without it the wrapper changes nothing.
    """

    @functools.wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> Result:
        result = check(*args, **kwargs)
        path = os.environ.get(GRADEBOOK_ENV)
        answer = _answer_name(args[0]) if args else ""
        if path and answer != "<lambda>" and isinstance(result, Result):
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"check": check.__name__, "exercise": result.exercise,
                                     "answer": answer, "status": result.status}) + "\n")
        return result

    wrapper.__wrapped_check__ = check
    return wrapper


# --------------------------------------------------------------------------- comparisons
def _fmt_index(idx: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def _affine_fit(answer: torch.Tensor, expected: torch.Tensor) -> tuple[float, float, float]:
    """Least squares ``answer ~ k * expected + c``: returns (k, c, max residual).

    A wrong answer that is an exact affine function of the right one is almost always a
    wrong scale or offset (``L/100`` instead of ``L/50 - 1``): the hint can say which.
    """
    e = expected.detach().double().flatten()
    a = answer.detach().double().flatten()
    if e.numel() < 2 or float(e.std()) == 0.0:
        return float("nan"), float("nan"), float("inf")
    design = torch.stack([e, torch.ones_like(e)], dim=1)
    sol = torch.linalg.lstsq(design, a.unsqueeze(1)).solution.squeeze(1)
    k, c = float(sol[0]), float(sol[1])
    resid = float((a - (k * e + c)).abs().max())
    return k, c, resid


def compare_tensors(
    answer: Any,
    expected: torch.Tensor,
    *,
    what: str = "your output",
    atol: float = 1e-4,
    rtol: float = 1e-4,
) -> str | None:
    """Compare a student's tensor with the expected one; None when they agree, else a hint.

    The hint names the first thing that is wrong, in the order a student should fix it:
    the type, the shape, the dtype, NaN/inf, then the values (largest difference and where,
    and whether the whole answer is off by a constant factor or offset).
    Agreement is ``|answer - expected| <= atol + rtol * |expected|`` element-wise.
    """
    if not isinstance(answer, torch.Tensor):
        kind = type(answer).__name__
        if kind == "ndarray":
            return f"{what} is a numpy array; return a torch.Tensor (torch.from_numpy(x) converts it)."
        if answer is None:
            return f"{what} is None: did you forget the `return` statement?"
        return f"{what} should be a torch.Tensor, got {kind}."
    exp_shape, got_shape = tuple(expected.shape), tuple(answer.shape)
    if got_shape != exp_shape:
        hint = f"{what} has shape {got_shape}, expected {exp_shape}"
        squeezed = [exp_shape[:i] + exp_shape[i + 1:] for i, n in enumerate(exp_shape) if n == 1]
        if got_shape in squeezed:
            hint += " (one dimension of size 1 is missing: keep it, e.g. x[:, :1] instead of x[:, 0])"
        elif answer.numel() == expected.numel():
            hint += " (same number of values in another layout: check permute/reshape/squeeze)"
        return hint + "."
    if expected.is_floating_point() and not (answer.is_floating_point() or answer.is_complex()):
        return f"{what} has dtype {answer.dtype}; use a float dtype, integers lose the fractions."
    a = answer.detach().to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    if not torch.isfinite(a).all():
        bad = int((~torch.isfinite(a)).sum())
        return f"{what} contains {bad} NaN or infinite value(s): look for a division by zero or a log/pow of a negative."
    tol = atol + rtol * e.abs()
    diff = (a - e).abs()
    if bool((diff <= tol).all()):
        return None
    flat = int(torch.argmax(diff - tol))
    idx = torch.unravel_index(torch.tensor(flat), e.shape) if e.dim() else ()
    got_v, exp_v = float(a.flatten()[flat]), float(e.flatten()[flat])
    n_bad = int((diff > tol).sum())
    hint = (
        f"{what} differs from the expected values at {n_bad} of {e.numel()} positions; "
        f"the largest difference is {float(diff.max()):.4g} "
        f"(at {_fmt_index(idx)}: got {got_v:.4g}, expected {exp_v:.4g})"
    )
    k, c, resid = _affine_fit(a, e)
    scale = float(e.abs().max()) or 1.0
    if float(a.abs().max()) <= atol:
        hint += ". Every value is 0: is the function still the unfinished stub?"
    elif math.isfinite(resid) and resid <= 1e-3 * scale + atol:
        if abs(c) <= 1e-3 * scale + atol:
            hint += f". Every value is {k:.4g} times the expected one: check your scale factor"
        elif abs(k - 1.0) <= 1e-3:
            hint += f". Every value is off by the same amount ({c:+.4g}): check your offset"
        else:
            sign = "+" if c >= 0 else "-"
            hint += f". Your values are {k:.4g} * expected {sign} {abs(c):.4g}: check both the scale and the offset"
    return hint + "."


def _clone_args(args: tuple) -> tuple:
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


def _as_outputs(value: Any, n: int) -> tuple | None:
    """The student's return value as a tuple of n outputs, or None if the count is wrong."""
    if n == 1:
        return (value,)
    if isinstance(value, (tuple, list)) and len(value) == n:
        return tuple(value)
    return None


def _describe_exception(exc: BaseException) -> str:
    """The student's error as a hint (NotImplementedError never gets here: it means "not done")."""
    # The last frame of the student's code is the most useful pointer ("line 3, in f").
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (line {frames[-1].lineno}, in {frames[-1].name})" if frames else ""
    return f"your function raised {type(exc).__name__}: {exc}{where}."


def check_function(
    exercise: str,
    student_fn: Callable[..., Any],
    reference_fn: Callable[..., Any] | None,
    cases: Sequence[Case],
    *,
    mistakes: Sequence[Mistake] = (),
    output_names: Sequence[str] = ("the output",),
    atol: float = 1e-4,
    rtol: float = 1e-4,
    judge: Callable[[tuple, tuple], str | None] | None = None,
    reference_name: str = "",
    forbid: Sequence[Callable[..., Any]] = (),
) -> Result:
    """Run ``student_fn`` on every case and compare it with ``reference_fn``.

    Args:
        exercise: the name shown in the verdict ("Lab normalisation").
        student_fn: the student's function.
        reference_fn: the package's implementation (None when ``judge`` decides alone).
        cases: fixed inputs; the first failing case is reported by name.
        mistakes: known wrong answers; a match replaces the generic hint by theirs.
        output_names: one name per returned value ("L", "ab"); their number is the number
            of values the function must return.
        atol, rtol: the element-wise tolerance (see :func:`compare_tensors`).
        judge: optional property check ``judge(outputs, args) -> hint or None`` for
            exercises with many right answers (any gray that keeps L); when given, it
            replaces the comparison with ``reference_fn``.
        reference_name: how the verdict names the reference ("lessons_lib.color.x").
        forbid: the package's (or torch's) implementations of the same thing; if the
            student's function calls any of them, the check fails and says so
            (:class:`CallWatch`). ``reference_fn`` itself is always forbidden as well.
    Returns:
        a :class:`Result`; it never raises because of the student's code.
    """
    if not callable(student_fn):
        return Result(exercise, False, [f"pass your function itself (without calling it), got a {type(student_fn).__name__}."])
    if reference_fn is not None:                       # the answer the check compares with
        forbid = [*forbid, reference_fn]
    n_out = len(output_names)
    for case in cases:
        args = _clone_args(case.args)
        watch = CallWatch(forbid, student=student_fn)
        try:
            with watch:
                got = student_fn(*args)
        except NotImplementedError:
            if watch.hits:
                return Result(exercise, False, [_forbidden_hint(watch.hits)])
            return Result(exercise, False, not_done=True)
        except Exception as exc:  # the student's code: any error becomes a hint
            if watch.hits:          # it failed inside a forbidden call: that is the thing to fix first
                return Result(exercise, False, [_forbidden_hint(watch.hits)])
            return Result(exercise, False, [f"on {case.name}, {_describe_exception(exc)}"])
        if watch.hits:
            return Result(exercise, False, [_forbidden_hint(watch.hits)])
        # The student's copy of the inputs should come back untouched.
        modified_inplace = any(
            isinstance(x, torch.Tensor) and (x.shape != y.shape or not torch.equal(x, y))
            for x, y in zip(args, case.args)
        )
        outs = _as_outputs(got, n_out)
        if outs is None:
            count = len(got) if isinstance(got, (tuple, list)) else 1
            names = ", ".join(output_names)
            return Result(
                exercise,
                False,
                [f"your function should return {n_out} values ({names}), it returned {count}."],
            )
        if judge is not None:
            hint = judge(outs, case.args)
            if hint is not None:
                return Result(exercise, False, [f"on {case.name}: {hint}"] + _inplace_hint(modified_inplace))
            continue
        expected = _as_outputs(reference_fn(*_clone_args(case.args)), n_out)
        assert expected is not None, "reference and output_names disagree"  # a bug in the check itself
        for name, out, exp in zip(output_names, outs, expected):
            hint = compare_tensors(out, exp, what=name, atol=atol, rtol=rtol)
            if hint is None:
                continue
            known = _match_mistake(outs, case, mistakes, n_out, atol, rtol)
            hints = [f"on {case.name}: {known}"] if known else [f"on {case.name}: {hint}"]
            # Swapped outputs are a mistake worth naming whatever the exercise.
            if n_out == 2 and known is None and _swapped(outs, expected, atol, rtol):
                hints.append(f"it looks like you returned ({output_names[1]}, {output_names[0]}): swap them.")
            return Result(exercise, False, hints + _inplace_hint(modified_inplace))
        if modified_inplace:
            return Result(exercise, False, _inplace_hint(True))
    against = f" matches {reference_name}" if reference_name else " passes"
    return Result(exercise, True, [], f"{against.strip()} on {len(cases)} cases ({', '.join(c.name for c in cases)}).")


def run_student(exercise: str, student_fn: Callable[..., Any], *args: Any,
                forbid: Sequence[Callable[..., Any]] = (), case: str = "") -> tuple[Any, Result | None]:
    """Call a student's function the way every check does: ``(value, None)`` when it ran, or
    ``(None, verdict)`` when it is still the stub (not done), raised (the error as a hint), or
    called a forbidden implementation (:class:`CallWatch`). For checks that cannot use
    :func:`check_function` (a module, a training step, a dict of measurements)."""
    if not callable(student_fn):
        return None, Result(exercise, False, [f"pass your function itself (without calling it), got a "
                                              f"{type(student_fn).__name__}."])
    where = f"on {case}, " if case else ""
    watch = CallWatch(forbid, student=student_fn)
    try:
        with watch:
            value = student_fn(*args)
    except NotImplementedError:
        if watch.hits:
            return None, Result(exercise, False, [_forbidden_hint(watch.hits)])
        return None, Result(exercise, False, not_done=True)
    except Exception as exc:  # the student's code: any error becomes a hint
        if watch.hits:
            return None, Result(exercise, False, [_forbidden_hint(watch.hits)])
        return None, Result(exercise, False, [where + _describe_exception(exc)])
    if watch.hits:
        return None, Result(exercise, False, [_forbidden_hint(watch.hits)])
    return value, None


def float_answer(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with a Python number it returns turned into a float64 0-d tensor, so that an
    exercise whose answer is one number accepts ``float(...)`` as well as a tensor; keeps
    ``fn``'s name for the gradebook and raises what ``fn`` raises (NotImplementedError: not done)."""
    if not callable(fn):               # check_function then says "pass your function itself"
        return fn

    def wrapped(*args: Any) -> Any:
        out = fn(*args)
        return torch.as_tensor(out, dtype=torch.float64) if isinstance(out, (float, int)) else out

    wrapped.__name__ = getattr(fn, "__name__", "fn")
    return wrapped


def _inplace_hint(modified: bool) -> list[str]:
    if not modified:
        return []
    return ["your function changed its input tensor in place (e.g. `x /= 50` or `x[:] = ...`): "
            "compute a new tensor instead, the caller still needs the original."]


def _match_mistake(outs: tuple, case: Case, mistakes: Sequence[Mistake], n_out: int, atol: float, rtol: float) -> str | None:
    for m in mistakes:
        try:
            wrong = _as_outputs(m.fn(*_clone_args(case.args)), n_out)
        except Exception:  # pragma: no cover - a broken mistake model must not hide the verdict
            continue
        if wrong is not None and all(
            isinstance(o, torch.Tensor) and compare_tensors(o, w, atol=atol, rtol=rtol) is None
            for o, w in zip(outs, wrong)
        ):
            return m.hint
    return None


def _swapped(outs: tuple, expected: tuple, atol: float, rtol: float) -> bool:
    return all(
        isinstance(o, torch.Tensor) and compare_tensors(o, e, atol=atol, rtol=rtol) is None
        for o, e in zip(outs, reversed(expected))
    )


def check_value(
    exercise: str,
    answer: Any,
    expected: float,
    *,
    atol: float = 0.0,
    rtol: float = 0.0,
    unit: str = "",
    mistakes: dict[float, str] | None = None,
) -> Result:
    """Grade a single number (a receptive field, a parameter count, an output size).

    ``mistakes`` maps known wrong values to their hint (e.g. ``{34: "you forgot the last
    layer"}``). Otherwise the hint says whether the answer is too large or too small.
    """
    if answer is None or answer is Ellipsis:
        return Result(exercise, False, not_done=True)
    try:
        value = float(answer.item() if isinstance(answer, torch.Tensor) else answer)
    except (TypeError, ValueError, RuntimeError):
        return Result(exercise, False, [f"the answer should be a number, got {type(answer).__name__}."])
    if math.isfinite(value) and abs(value - expected) <= atol + rtol * abs(expected):
        return Result(exercise, True, [], f"{answer}{unit}.")
    for wrong, hint in (mistakes or {}).items():
        if math.isclose(value, wrong, rel_tol=1e-9, abs_tol=1e-12):
            return Result(exercise, False, [hint])
    direction = "too large" if value > expected else "too small"
    return Result(exercise, False, [f"{answer}{unit} is {direction}."])

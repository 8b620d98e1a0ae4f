"""Lesson 09's exercises: the contextual loss of the fusion network, and the part's larger
exercise - a short restoration experiment whose numbers, claim and written conclusion are
checked against a measurement the check makes itself."""
from __future__ import annotations

from typing import Callable

import math
import re
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from .. import metrics
from ..losses import contextual as cx_mod
from ..losses import contextual_loss
from ..metrics import psnr, ssim
from ..restoration import evaluation as rs
from ._core import Case, Mistake, Result, check_function, run_student

__all__ = ["check_contextual_loss", "check_restoration_experiment", "EXPERIMENT_OUTPUTS", "check_prior_ablation",
           "ABLATION_INPUTS"]


def _cx(x: torch.Tensor, y: torch.Tensor, h: float = 0.5, centre: bool = True, relative: bool = True,
        max_axis: int = 1) -> torch.Tensor:
    """The contextual loss with one step changed (the known mistakes); all steps = the right answer."""
    mu = y.mean(dim=2, keepdim=True) if centre else 0.0
    xn, yn = F.normalize(x - mu, dim=1), F.normalize(y - mu, dim=1)
    d = (1 - torch.bmm(xn.transpose(1, 2), yn)).clamp_min(0)           # (B, N, M)
    if relative:
        d = d / (d.min(dim=2, keepdim=True).values + 1e-5)
    cx = torch.softmax(-d / h, dim=2)
    CX = cx.max(dim=max_axis).values.mean(dim=1)
    return (-torch.log(CX.clamp_min(1e-12))).mean()


def check_contextual_loss(fn: Callable[..., torch.Tensor]) -> Result:
    """Lesson 09: ``fn(x, y, h=0.5) -> loss``, the contextual loss of Mechrez et al. (2018).

    ``x`` (B, C, N) are the generated image's feature vectors, ``y`` (B, C, M) the target's;
    the answer is the scalar ``mean_b -log CX_b`` with centring by the target's mean,
    cosine distances, distances relative to each x_i's nearest y (eps 1e-5),
    ``w = exp((1 - d~) / h)`` normalised over the targets, and ``CX = mean_j max_i cx_ij`` -
    :func:`lessons_lib.losses.contextual_loss` with ``max_positions=None``.
    """
    g = torch.Generator().manual_seed(0)
    base = torch.randn(2, 8, 20, generator=g)
    cases = [
        Case("two random sets of 20 vectors", (torch.randn(2, 8, 20, generator=g), torch.randn(2, 8, 20, generator=g))),
        Case("y = x shuffled (the loss ignores positions)", (base, base[:, :, torch.randperm(20, generator=g)])),
        Case("sets of different sizes (12 and 30)", (torch.randn(1, 6, 12, generator=g) + 1.0,
                                                     torch.randn(1, 6, 30, generator=g) + 1.0)),
    ]

    def reference(x, y):
        return contextual_loss(x, y, max_positions=None)

    mistakes = [
        Mistake("centre both sets by the mean of the TARGET's features (y.mean(dim=2, keepdim=True)) before the "
                "cosine: without it all features point the same way and every distance is small.",
                lambda x, y: _cx(x, y, centre=False)),
        Mistake("divide each d_ij by min_k d_ik + 1e-5 (the distance to x_i's nearest target) before the "
                "exponential: the relative distance is what makes one match stand out.",
                lambda x, y: _cx(x, y, relative=False)),
        Mistake("CX is mean over targets j of the max over generated i: take max(dim=1) of the (B, N, M) "
                "matrix (over i), then the mean over j.", lambda x, y: _cx(x, y, max_axis=2)),
    ]
    forbid = [cx_mod.contextual_loss, cx_mod.contextual_similarity, cx_mod.ContextualLoss.forward, _cx]
    return check_function("contextual loss", fn, reference, cases, mistakes=mistakes,
                          output_names=("loss",), atol=1e-5, rtol=1e-4,
                          reference_name="lessons_lib.losses.contextual_loss", forbid=forbid)


# =========================================================================== the larger exercise
#: the four images an experiment measures, in the restorer's order
EXPERIMENT_OUTPUTS = ("blurred", "x_R", "x_G", "x_hat")
_PSNR_TOL = 0.05        # dB: the same images and the same formula agree far closer; rounding to 0.01 passes
_SSIM_TOL = 0.005
_DB_NUMBER = re.compile(r"([-+]?\d+(?:\.\d+)?)\s*dB")


class _ScriptedRestorer:
    """A stand-in restorer with made-up outputs (``restore_tensor`` as the real one), so that a
    claim typed from the real restorer's numbers cannot pass: here another image wins."""

    def __init__(self, outputs: dict[str, torch.Tensor]) -> None:
        self._outputs = outputs
        self.size = int(next(iter(outputs.values())).shape[-1])

    @torch.no_grad()
    def restore_tensor(self, blurred: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self._outputs.items()}


def _measure(outs: Mapping[str, torch.Tensor], sharp: torch.Tensor) -> dict[str, dict[str, float]]:
    """The reference measurement: mean over the faces of each face's PSNR and SSIM to the truth."""
    return {"psnr": {k: float(psnr(outs[k], sharp)) for k in EXPERIMENT_OUTPUTS},
            "ssim": {k: float(ssim(outs[k], sharp)) for k in EXPERIMENT_OUTPUTS}}


def _batch_psnr(x: torch.Tensor, sharp: torch.Tensor) -> float:
    mse = float((x.double() - sharp.double()).pow(2).mean())
    return 10 * math.log10(1.0 / mse) if mse > 0 else math.inf


def _claims(m: dict[str, dict[str, float]]) -> dict[str, Any]:
    """What the numbers say: the claim a right answer computes."""
    p, q = m["psnr"], m["ssim"]
    return {"best_psnr": max(p, key=p.get), "best_ssim": max(q, key=q.get),
            "fusion_beats_blurred": p["x_hat"] > p["blurred"],
            "fusion_gap_to_x_R_db": p["x_hat"] - p["x_R"]}


def _scripted_cases(blurred: torch.Tensor, sharp: torch.Tensor) -> list[tuple[str, _ScriptedRestorer]]:
    g = torch.Generator().manual_seed(9)
    noise = torch.randn(sharp.shape, generator=g)
    near = (sharp + 0.01 * noise).clamp(0, 1)               # nearly the truth
    mid = (sharp + 0.04 * noise).clamp(0, 1)
    far = (0.5 * sharp + 0.25).clamp(0, 1)                  # washed out: far below the blurred input
    return [
        ("a stand-in restorer whose x_hat is nearly the truth",
         _ScriptedRestorer({"blurred": blurred, "x_R": mid, "x_G": far, "x_hat": near})),
        ("a stand-in restorer whose x_G wins and whose fusion falls below the blurred input",
         _ScriptedRestorer({"blurred": blurred, "x_R": mid, "x_G": near, "x_hat": far})),
    ]


def _as_float(v: Any) -> float | None:
    try:
        return float(v.item() if isinstance(v, torch.Tensor) else v)
    except (TypeError, ValueError, RuntimeError):
        return None


def _judge(answer: Any, outs: Mapping[str, torch.Tensor], sharp: torch.Tensor, where: str) -> str | None:
    """None when the answer's numbers, claim and conclusion follow from the measurement, else a hint."""
    if not isinstance(answer, Mapping):
        return f"{where}: return a dict with the keys 'psnr', 'ssim', 'claim' and 'conclusion', got " \
               f"{type(answer).__name__}."
    missing = [k for k in ("psnr", "ssim", "claim", "conclusion") if k not in answer]
    if missing:
        return f"{where}: the dict lacks {', '.join(repr(k) for k in missing)}."
    ref = _measure(outs, sharp)
    for metric, tol in (("psnr", _PSNR_TOL), ("ssim", _SSIM_TOL)):
        got = answer[metric]
        if not isinstance(got, Mapping) or any(k not in got for k in EXPERIMENT_OUTPUTS):
            return f"{where}: answer[{metric!r}] must be a dict with the keys {', '.join(EXPERIMENT_OUTPUTS)}."
        for k in EXPERIMENT_OUTPUTS:
            v, want = _as_float(got[k]), ref[metric][k]
            if v is None or not math.isfinite(v):
                return (f"{where}: {metric} of {k} is {got[k]!r}; it must be a finite number (the blurred input's "
                        "PSNR is infinite only if you measured it against itself).")
            if abs(v - want) <= tol:
                continue
            hint = f"{where}: your {metric.upper()} of {k} is {v:.4g}, the check measures {want:.4g} on the same images"
            if metric == "psnr":
                if abs(v - _batch_psnr(outs[k], sharp)) <= tol:
                    hint += (". Yours is the PSNR of the whole batch's MSE: compute the PSNR of each face, then "
                             "average (the convention of the kit's tables and of the seed's)")
                elif abs(v - want - 20 * math.log10(255.0)) <= 0.2:
                    hint += ". It is 48.13 dB too high: the images are in [0, 1], so the peak value is 1, not 255"
                elif k != "blurred" and abs(v - float(_psnr_to(outs[k], outs["blurred"]))) <= tol:
                    hint += ". You measured it against the blurred input: measure every image against the sharp face"
                else:
                    swapped = [o for o in EXPERIMENT_OUTPUTS if o != k and abs(v - ref["psnr"][o]) <= tol]
                    if swapped:
                        hint += f". That is the PSNR of {swapped[0]}: check which image you scored under which name"
            return hint + "."
    claim = answer["claim"]
    if not isinstance(claim, Mapping):
        return f"{where}: answer['claim'] must be a dict, got {type(claim).__name__}."
    want = _claims(ref)
    for key, value in want.items():
        if key not in claim:
            return f"{where}: the claim lacks {key!r} (the keys are {', '.join(want)})."
        got = claim[key]
        if key == "fusion_gap_to_x_R_db":
            g = _as_float(got)
            if g is None or abs(g - value) > 2 * _PSNR_TOL:
                return (f"{where}: the claim's {key} is {got!r}, but your own numbers give x_hat - x_R = "
                        f"{value:+.2f} dB: compute the claim from the numbers you measured, do not type it.")
        elif got != value:
            return (f"{where}: the claim says {key} = {got!r}, but the numbers say {value!r}: compute the claim "
                    "from the measured numbers (max(psnr, key=psnr.get), a comparison), do not type it.")
    text = answer["conclusion"]
    if not isinstance(text, str) or not text.strip():
        return f"{where}: answer['conclusion'] must be a sentence (a str) that states your result with its numbers."
    if not _DB_NUMBER.search(text):
        return (f"{where}: your conclusion states no number in dB (write e.g. 'x_hat is 0.95 dB below x_R'); a "
                "conclusion is checked for its numbers.")
    hint = _read_conclusion(text, ref["psnr"])
    return f"{where}: {hint}" if hint else None


#: how a conclusion may name each image (the first is the name the hints use)
_NAMES = {"blurred": ("the blurred input", "blurred", "input"),
          "x_R": ("x_R", "NAFNet", "regression"),
          "x_G": ("x_G", "inversion", "GAN prior", "prior"),
          "x_hat": ("x_hat", "x̂", "fusion", "fused")}
_NAME_RE = re.compile("|".join(rf"(?<![A-Za-z_]){re.escape(a)}(?![A-Za-z])" for k in _NAMES
                               for a in sorted(_NAMES[k], key=len, reverse=True)), re.IGNORECASE)
_ALIAS = {a.lower(): k for k, aliases in _NAMES.items() for a in aliases}
_UP = r"above|higher|more|better|over|ahead|gains?|up|improves?|beats?"
_DOWN = r"below|lower|less|worse|under|behind|loses|down|short|drops?|falls?"
_DIRECTION = re.compile(rf"\s*(?:\)\s*)?(?:of\s+)?\b({_UP}|{_DOWN})\b", re.IGNORECASE)
_TOL_TEXT = 0.051 + 1e-9          # a number rounded to 0.1 dB


def _read_conclusion(text: str, p: Mapping[str, float]) -> str | None:
    """None when every "N dB" of the conclusion is the PSNR of the image it is said of, or a
    difference of two images with the right sign, else a hint.

    Sentence by sentence, each "N dB" is read as
    * a **difference** when a direction word follows it ("0.97 dB below x_R", "1.6 dB above the
      blurred input") or it carries a sign ("-0.97 dB"): the image after the word (or the second
      of the two images named before a signed number) is the one compared with, and some image
      named before the number must be ``N`` dB above (below) it;
    * otherwise a **PSNR**, of the image named last before it (or, with none before, first after).
    Images are named as ``x_R`` / NAFNet, ``x_G`` / inversion, ``x_hat`` / fusion, blurred / input.
    """
    names = ", ".join(f"{k} {v:.2f}" for k, v in p.items())
    allowed = list(p.values()) + [abs(a - b) for a in p.values() for b in p.values()]
    for sentence in re.split(r"(?<=[.;!?])\s+|;", text):
        mentions = [(m.start(), _ALIAS[m.group(0).lower()]) for m in _NAME_RE.finditer(sentence)]
        for m in _DB_NUMBER.finditer(sentence):
            raw = m.group(1)
            x = float(raw)
            if not any(abs(abs(x) - a) <= _TOL_TEXT for a in allowed):
                return (f"your conclusion says {x:g} dB, which is none of the measured PSNRs ({names}) nor a "
                        "difference of two of them: write the conclusion from the measured numbers (an f-string), "
                        "rounded to 0.1 dB or finer.")
            before = [k for pos, k in mentions if pos < m.start()]
            after = [k for pos, k in mentions if pos >= m.end()]
            d = _DIRECTION.match(sentence, m.end())
            signed = raw[0] in "+-"
            if d or signed:
                if d:
                    sign = 1.0 if re.fullmatch(_UP, d.group(1), re.IGNORECASE) else -1.0
                    target = next((k for pos, k in mentions if pos >= d.end()), None)
                    value = sign * x                     # "-0.4 dB over x_R" is 0.4 dB below it
                    subjects = [k for k in before if k != target]
                else:
                    target = before[-1] if len(before) >= 2 else None
                    value = x
                    subjects = [k for k in before[:-1] if k != target]
                if target is None or not subjects:
                    return (f"your conclusion says {m.group(0)}{' ' + d.group(1) if d else ''} but does not say "
                            "which two images it compares: write e.g. 'x_hat is 0.97 dB below x_R'.")
                if any(abs((p[a] - p[target]) - value) <= _TOL_TEXT or
                       (abs(p[a] - p[target]) <= _TOL_TEXT and abs(x) <= 2 * _TOL_TEXT) for a in subjects):
                    continue
                a = subjects[-1]
                gap = p[a] - p[target]
                if any(abs(abs(p[b] - p[target]) - abs(x)) <= _TOL_TEXT for b in subjects):
                    return (f"your conclusion puts {before[-1] if not d else a} {abs(x):g} dB "
                            f"{'above' if value > 0 else 'below'} {target}, but the measurement has it "
                            f"{abs(gap):.2f} dB {'above' if gap > 0 else 'below'}: check the sign - write the "
                            "direction from the numbers ('below' if gap < 0 else 'above').")
                return (f"your conclusion says {m.group(0)} between {a} and {target}; the measured difference is "
                        f"{gap:+.2f} dB (measured: {names}): write it from the measured numbers (an f-string).")
            owner = before[-1] if before else (after[0] if after else None)
            if owner is not None and abs(x - p[owner]) <= _TOL_TEXT:
                continue
            others = [k for k in p if abs(x - p[k]) <= _TOL_TEXT]
            if owner is not None and others:
                return (f"your conclusion gives {x:g} dB to {owner}, but {x:g} dB is the PSNR of {others[0]} "
                        f"(measured: {names}): check which image each number belongs to.")
            if owner is None and others:
                return (f"your conclusion says {x:g} dB without naming the image: say whose PSNR it is "
                        "(x_R / NAFNet, x_G / inversion, x_hat / fusion, the blurred input).")
            return (f"your conclusion gives {x:g} dB to {owner}, whose PSNR is {p[owner]:.2f} dB; a difference of two "
                    "images needs its direction and both names ('0.97 dB below x_R').")
    return None


def _psnr_to(x: torch.Tensor, y: torch.Tensor) -> float:
    return float(psnr(x, y))


def check_restoration_experiment(fn: Callable[..., Any], restorer: Any, blurred: torch.Tensor,
                                 sharp: torch.Tensor) -> Result:
    """Lesson 09's larger exercise: ``fn(restorer, blurred, sharp) -> dict``, a short experiment.

    The student restores the held-out faces (``restorer.restore_tensor(blurred)``), measures
    the PSNR and SSIM of the blurred input, x_R, x_G and x_hat against the sharp faces (the
    mean over the faces of each face's value), and returns::

        {"psnr": {"blurred": .., "x_R": .., "x_G": .., "x_hat": ..},
         "ssim": {same keys},
         "claim": {"best_psnr": name, "best_ssim": name, "fusion_beats_blurred": bool,
                   "fusion_gap_to_x_R_db": x_hat - x_R in dB},
         "conclusion": "one or two sentences whose numbers in dB are measured values"}

    The check restores the same faces itself and measures them with ``lessons_lib.metrics.psnr``
    and ``ssim`` (the student may use these two primitives, or their own formula): each number
    must agree within 0.05 dB (PSNR) and 0.005 (SSIM); the claim must follow from the numbers
    and every "N dB" of the conclusion must be a measured PSNR or a difference of two. It
    then runs the function again on two stand-in restorers whose outputs make other claims
    true, so a claim or a conclusion typed from the first run fails. The kit's own evaluation
    and report helpers (``evaluate_restorer``, ``restoration_scores``, ``restoration_report``,
    ``format_restoration``, ``seed_comparison_table``) are forbidden.
    """
    exercise = "restoration experiment"
    forbid = [rs.evaluate_restorer, rs.restoration_scores, rs.mean_scores, rs.format_restoration,
              rs.seed_comparison_table, metrics.restoration_report, metrics.format_report,
              metrics.kit_feature_report, metrics.feature_report,
              _measure, _claims, _judge, _batch_psnr, _psnr_to, _cx]       # the check's own answers
    blurred = blurred.detach().float().cpu()
    sharp = sharp.detach().float().cpu()
    if blurred.shape != sharp.shape or blurred.dim() != 4:
        raise ValueError(f"blurred {tuple(blurred.shape)} and sharp {tuple(sharp.shape)} must be the same (B, 3, H, W)")
    with torch.no_grad():
        outs = {k: v.detach().float().cpu() for k, v in restorer.restore_tensor(blurred.clone()).items()}
    missing = [k for k in EXPERIMENT_OUTPUTS if k not in outs]
    if missing:
        raise ValueError(f"the restorer makes no {', '.join(missing)}: the experiment needs a full restorer bundle")
    runs = [("on the held-out faces", restorer, outs)] + [(name, r, r.restore_tensor(blurred))
                                                         for name, r in _scripted_cases(blurred, sharp)]
    for where, r, o in runs:
        answer, verdict = run_student(exercise, fn, r, blurred.clone(), sharp.clone(), forbid=forbid, case=where)
        if verdict is not None:
            return verdict
        hint = _judge(answer, o, sharp, where)
        if hint is not None:
            return Result(exercise, False, [hint])
    m = _measure(outs, sharp)
    best = max(m["psnr"], key=m["psnr"].get)
    return Result(exercise, True, [], f"your numbers match the check's on {sharp.shape[0]} faces (best PSNR: {best}, "
                                      f"x_hat - x_R = {m['psnr']['x_hat'] - m['psnr']['x_R']:+.2f} dB), and the "
                                      "claim and conclusion follow from them on 3 restorers.")


# =========================================================================== the prior's ablation
#: the three fusions the ablation compares: with the prior's x_G, with x_R in its place, with zeros
ABLATION_INPUTS = ("x_G", "x_R", "zeros")
_PRIOR_MATTERS_DB = 0.1     # a gain smaller than this is within what 16 faces can tell apart


class _AblationStandIn:
    """A stand-in restorer whose fusion is known (``x_hat = (x_R + second input) / 2``) and whose
    x_G is nearly the truth: here the prior adds several dB, so a gain typed from the shipped
    restorer's run cannot pass."""

    def __init__(self, sharp: torch.Tensor) -> None:
        g = torch.Generator().manual_seed(11)
        x_R = (sharp + 0.05 * torch.randn(sharp.shape, generator=g)).clamp(0, 1)
        x_G = (sharp + 0.01 * torch.randn(sharp.shape, generator=g)).clamp(0, 1)
        self.size = int(sharp.shape[-1])
        self.model = _StandInParts(x_R, x_G)

    @torch.no_grad()
    def restore_tensor(self, blurred: torch.Tensor) -> dict[str, torch.Tensor]:
        m = self.model
        x_R = m.nafnet(blurred)
        x_G = m.inversion(x_R)
        return {"blurred": blurred.clone(), "x_R": x_R, "x_G": x_G, "x_hat": m.fusion(x_R, x_G)}


class _StandInParts:
    def __init__(self, x_R: torch.Tensor, x_G: torch.Tensor) -> None:
        self._x_R, self._x_G = x_R, x_G

    def nafnet(self, blurred: torch.Tensor) -> torch.Tensor:
        return self._x_R.clone()

    def inversion(self, x_R: torch.Tensor) -> torch.Tensor:
        return self._x_G.clone()

    def fusion(self, x_R: torch.Tensor, x_G: torch.Tensor) -> torch.Tensor:
        return ((x_R + x_G) / 2).clamp(0, 1)


@torch.no_grad()
def _ablate(restorer: Any, blurred: torch.Tensor, sharp: torch.Tensor) -> dict[str, float]:
    """The reference: PSNR of the fusion fed x_G, x_R and zeros as its second input."""
    m = restorer.model
    x_R = m.nafnet(blurred).clamp(0, 1)
    x_G = m.inversion(x_R).clamp(0, 1)
    second = {"x_G": x_G, "x_R": x_R, "zeros": torch.zeros_like(x_R)}
    return {k: float(psnr(m.fusion(x_R, second[k]).clamp(0, 1), sharp)) for k in ABLATION_INPUTS}


def _judge_ablation(answer: Any, ref: dict[str, float], where: str) -> str | None:
    if not isinstance(answer, Mapping) or "psnr" not in answer or "prior_gain_db" not in answer:
        return f"{where}: return a dict with the keys 'psnr' and 'prior_gain_db'."
    got = answer["psnr"]
    if not isinstance(got, Mapping) or any(k not in got for k in ABLATION_INPUTS):
        return f"{where}: answer['psnr'] must be a dict with the keys {', '.join(map(repr, ABLATION_INPUTS))}."
    for k in ABLATION_INPUTS:
        v = _as_float(got[k])
        if v is None or abs(v - ref[k]) > _PSNR_TOL:
            hint = (f"{where}: your PSNR of the fusion fed {k} is {got[k]!r}, the check measures {ref[k]:.2f} dB "
                    "on the same faces")
            others = [o for o in ABLATION_INPUTS if o != k and v is not None and abs(v - ref[o]) <= _PSNR_TOL]
            if others:
                hint += f" - that is the fusion fed {others[0]}: check what you passed as the second input"
            return hint + ". Call restorer.model.fusion(x_R, second) with x_R = restorer.model.nafnet(blurred)."
    gain = _as_float(answer["prior_gain_db"])
    want = ref["x_G"] - ref["x_R"]
    if gain is None or abs(gain - want) > 2 * _PSNR_TOL:
        hint = f"{where}: prior_gain_db is {answer['prior_gain_db']!r}, your numbers give {want:+.2f} dB"
        if gain is not None and abs(gain + want) <= 2 * _PSNR_TOL:
            hint += " - the sign is flipped: the gain is PSNR(with x_G) - PSNR(with x_R in its place)"
        return hint + ": compute it from the numbers you measured, do not type it."
    return None


def check_prior_ablation(fn: Callable[..., Any], restorer: Any, blurred: torch.Tensor,
                         sharp: torch.Tensor) -> Result:
    """Lesson 09's ablation: ``fn(restorer, blurred, sharp) -> dict``. Does the fusion use the prior?

    The student runs the restorer's parts (``restorer.model.nafnet``, ``.inversion``,
    ``.fusion``) and feeds the fusion three second inputs: the prior's x_G (what it was trained
    on), x_R in its place, and zeros. It returns ``{"psnr": {"x_G": .., "x_R": .., "zeros": ..},
    "prior_gain_db": psnr with x_G - psnr with x_R}``, each PSNR the mean over the faces of
    each face's value. The check measures the same three fusions itself (within 0.05 dB), then
    runs the function on a stand-in restorer whose prior is nearly the truth, where the gain is
    several dB: a gain typed from the first run fails there."""
    exercise = "prior ablation"
    forbid = [rs.evaluate_restorer, rs.restoration_scores, rs.mean_scores, metrics.restoration_report, _ablate]
    blurred = blurred.detach().float().cpu()
    sharp = sharp.detach().float().cpu()
    if blurred.shape != sharp.shape or blurred.dim() != 4:
        raise ValueError(f"blurred {tuple(blurred.shape)} and sharp {tuple(sharp.shape)} must be the same (B, 3, H, W)")
    if getattr(restorer.model, "fusion", None) is None:
        raise ValueError("the restorer has no fusion network: the ablation needs a full restorer bundle")
    stand_in = _AblationStandIn(sharp)
    runs = [("the held-out faces", restorer), ("a stand-in restorer whose prior is nearly the truth", stand_in)]
    first = None
    for where, r in runs:
        ref = _ablate(r, blurred, sharp)
        first = first or ref
        answer, verdict = run_student(exercise, fn, r, blurred.clone(), sharp.clone(), forbid=forbid, case=where)
        if verdict is not None:
            return verdict
        hint = _judge_ablation(answer, ref, f"on {where}")
        if hint is not None:
            return Result(exercise, False, [hint])
    gain = first["x_G"] - first["x_R"]
    if abs(gain) < _PRIOR_MATTERS_DB:
        reading = ("within 0.1 dB: the fusion does as well without the prior, so what it adds to x_R is its own, "
                   "not detail borrowed from x_G")
    elif gain > 0:
        reading = "the prior helps: x_G carries something x_R lacks, as the seed says"
    else:
        reading = "the prior costs PSNR: on these faces the fusion would do better without x_G"
    return Result(exercise, True, [], f"your three fusions match the check's on {sharp.shape[0]} faces: the prior "
                                      f"adds {gain:+.2f} dB over x_R in its place, "
                                      f"{first['x_G'] - first['zeros']:+.2f} dB over zeros - {reading}.")

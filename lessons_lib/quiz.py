""""Real or colorized?": a small perceptual study that a class can take in a notebook.

The idea is Zhang, Isola & Efros's "colorization Turing test" (ECCV 2016, sec. 4.1): a
participant sees a real photo and a colorized version of it side by side, in random order,
and picks the real one. If the colorizer were perfect they would be right half of the time
(chance); the share of trials in which they picked the colorized one is the "fooled" rate
(Zhang et al. report 32% for their full model on ImageNet, 50% being a perfect score).

:func:`make_pairs` draws the trials from a colorizer (any ``Colorizer`` of
:mod:`lessons_lib.pipeline`, or a plain function gray -> RGB), :func:`score` reads a
participant's answers and tests them against chance with an exact one-sided binomial test,
and :class:`RealOrColorized` is the widget (ipywidgets) that shows one pair at a time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch

from . import LessonsError

__all__ = ["Trial", "make_pairs", "score", "binomial_tail", "RealOrColorized"]


@dataclass
class Trial:
    """One pair: ``left`` and ``right`` are RGB images (3, H, W) in [0, 1]; ``real`` is the
    side ("left" or "right") that holds the real photo."""

    left: torch.Tensor
    right: torch.Tensor
    real: str
    name: str = ""
    model: str = ""          # which colorizer made the fake one


ColorizeFn = Callable[[torch.Tensor], torch.Tensor]


def make_pairs(photos: torch.Tensor, colorize: ColorizeFn | Mapping[str, ColorizeFn], *, seed: int = 0,
               names: Sequence[str] | None = None) -> list[Trial]:
    """One trial per photo: the photo and its colorization side by side, the real one on a
    side drawn at random (seeded, so a class sees the same test).

    Args:
        photos: RGB ``(N, 3, H, W)`` in [0, 1] (or uint8).
        colorize: RGB batch in [0, 1] -> colorized RGB batch of the same shape (it must use
            only the photo's lightness: e.g. ``Colorizer.colorize_tensor`` on its L plane);
            or a dict ``{model name: such a function}``: photo i is then colorized by the
            models in turn (i mod the number of models), and :func:`score` reports each
            model's fooled rate.
    """
    x = photos.float() / 255.0 if photos.dtype == torch.uint8 else photos.float()
    if x.dim() != 4 or x.shape[1] != 3:
        raise LessonsError(f"photos must be an RGB batch (N, 3, H, W), got shape {tuple(photos.shape)}")
    models = dict(colorize) if isinstance(colorize, Mapping) else {"": colorize}
    if not models:
        raise LessonsError("make_pairs needs at least one colorizer")
    order = [list(models)[i % len(models)] for i in range(x.shape[0])]
    fake = torch.empty_like(x)
    with torch.no_grad():
        for name, fn in models.items():
            idx = [i for i, m in enumerate(order) if m == name]
            if not idx:
                continue
            out = fn(x[idx]).float().clamp(0, 1)
            if out.shape != x[idx].shape:
                raise LessonsError(f"the colorizer {name or ''} returned shape {tuple(out.shape)} for photos of "
                                   f"shape {tuple(x[idx].shape)}".replace("colorizer  ", "colorizer "))
            fake[idx] = out
    gen = torch.Generator().manual_seed(int(seed))
    sides = torch.rand(x.shape[0], generator=gen) < 0.5
    trials = []
    for i in range(x.shape[0]):
        real_left = bool(sides[i])
        left, right = (x[i], fake[i]) if real_left else (fake[i], x[i])
        trials.append(Trial(left, right, "left" if real_left else "right",
                            names[i] if names else f"photo {i + 1}", order[i]))
    return trials


def binomial_tail(k: int, n: int, p: float = 0.5) -> float:
    """P(X >= k) for X ~ Binomial(n, p): the exact one-sided p-value of ``k`` right answers."""
    if not 0 <= k <= n:
        raise ValueError(f"k must be in 0..n, got k={k}, n={n}")
    return float(sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1)))


def score(trials: Sequence[Trial], answers: Sequence[str]) -> dict[str, Any]:
    """Grade a participant: ``answers[i]`` is the side they think is real ("left"/"right").

    Returns ``n``, ``correct``, ``fooled_rate`` (share of trials where they picked the
    colorized image; 0.5 = indistinguishable from real), and ``p_value``: the chance of at
    least this many right answers by guessing (one-sided binomial test, p = 1/2). A small
    p-value says the participant tells real from colorized better than chance.
    """
    if len(answers) != len(trials):
        raise LessonsError(f"{len(answers)} answers for {len(trials)} trials: answer every pair once")
    bad = [a for a in answers if a not in ("left", "right")]
    if bad:
        raise LessonsError(f"answers must be 'left' or 'right', got {bad[0]!r}")
    correct = sum(a == t.real for a, t in zip(answers, trials))
    n = len(trials)
    out = {"n": n, "correct": correct, "fooled_rate": (n - correct) / n if n else float("nan"),
           "p_value": binomial_tail(correct, n) if n else float("nan")}
    models = sorted({t.model for t in trials if t.model})
    if models:
        out["by_model"] = {m: sum(a != t.real for a, t in zip(answers, trials) if t.model == m)
                           / sum(t.model == m for t in trials) for m in models}
    return out


def _png(img: torch.Tensor) -> bytes:
    import io

    from PIL import Image

    arr = (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class RealOrColorized:
    """The quiz as a widget: one pair at a time, two buttons, the score at the end.

    ``answer(side)`` is what a button click does (tests and smoke runs call it directly);
    ``result()`` is :func:`score` of the answers so far.
    """

    trials: list[Trial]
    answers: list[str] = field(default_factory=list)
    display_px: int = 192

    def answer(self, side: str) -> None:
        if len(self.answers) >= len(self.trials):
            raise LessonsError("every pair is answered already; make a new quiz to take it again")
        if side not in ("left", "right"):
            raise LessonsError(f"answer 'left' or 'right', got {side!r}")
        self.answers.append(side)

    @property
    def done(self) -> bool:
        return len(self.answers) == len(self.trials)

    def result(self) -> dict[str, Any]:
        return score(self.trials[: len(self.answers)], self.answers)

    def summary(self) -> str:
        r = self.result()
        if not r["n"]:
            return "no answers yet"
        text = (f"{r['correct']} of {r['n']} right: you picked the colorized image as real in "
                f"{100 * r['fooled_rate']:.0f}% of the pairs (50% = cannot tell them apart); "
                f"p = {r['p_value']:.3f} that guessing does at least this well")
        if "by_model" in r:
            text += "; fooled by " + ", ".join(f"{m} {100 * v:.0f}%" for m, v in r["by_model"].items())
        return text

    def widget(self):
        """The ipywidgets quiz (two images, 'left is real' / 'right is real', the score)."""
        import ipywidgets as w

        left = w.Image(format="png", width=self.display_px)
        right = w.Image(format="png", width=self.display_px)
        status = w.HTML()
        b_left, b_right = w.Button(description="left is real"), w.Button(description="right is real")

        def show() -> None:
            i = len(self.answers)
            if self.done:
                b_left.disabled = b_right.disabled = True
                status.value = f"<b>{self.summary()}</b>"
                return
            left.value, right.value = _png(self.trials[i].left), _png(self.trials[i].right)
            status.value = f"pair {i + 1} of {len(self.trials)}: which photo is the real one?"

        def click(side: str):
            def handler(_):
                self.answer(side)
                show()
            return handler

        b_left.on_click(click("left"))
        b_right.on_click(click("right"))
        show()
        return w.VBox([w.HBox([left, right]), w.HBox([b_left, b_right]), status])

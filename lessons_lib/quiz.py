""""Real or colorized?": a small perceptual study that a class can take in a notebook.

The idea is Zhang, Isola & Efros's "colorization Turing test" (ECCV 2016, sec. 3.1): a
participant sees a real photo and a colorized version of it side by side, in random order,
and picks the real one. If the colorizer were perfect they would be right half of the time
(chance); the share of trials in which they picked the colorized one is the "fooled" rate
(Zhang et al. report 32% for their full model on ImageNet, 50% being a perfect score).

:func:`make_pairs` draws one participant's trials (their own photos, order and balanced sides,
from their own seed) from a colorizer (any ``Colorizer`` of
:mod:`lessons_lib.pipeline`, or a plain function gray -> RGB), :func:`score` reads a
participant's answers and tests them against chance with an exact one-sided binomial test,
:func:`class_study` reads a class's answers per image (the photos are the unit, not the
answers), and :class:`RealOrColorized` is the widget (ipywidgets) that shows one pair at a time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch

from . import LessonsError

__all__ = ["Trial", "new_seed", "make_pairs", "score", "binomial_tail", "class_study", "RealOrColorized"]


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


def new_seed() -> int:
    """A fresh seed for one participant's test (from the operating system's randomness):
    print it with the test, so that the same test can be drawn again."""
    import secrets

    return secrets.randbelow(2 ** 31)


def make_pairs(photos: torch.Tensor, colorize: ColorizeFn | Mapping[str, ColorizeFn], *, seed: int | None,
               n: int | None = None, names: Sequence[str] | None = None) -> list[Trial]:
    """A participant's test: ``n`` photos drawn from ``photos``, each beside its colorization.

    The draw depends on ``seed``, which should differ between participants (``new_seed()``):
    which photos, their order, which model colours each, and the sides. The sides are
    **balanced**: exactly ``n // 2`` trials have the real photo on the left (one more on a
    random side when ``n`` is odd), so answering "left" every time scores 50%, not whatever
    an unlucky draw gives. A seed names the test, so it can be drawn again.

    Args:
        photos: RGB ``(N, 3, H, W)`` in [0, 1] (or uint8), the pool to draw from.
        colorize: RGB batch in [0, 1] -> colorized RGB batch of the same shape (it must use
            only the photo's lightness: e.g. ``Colorizer.colorize_tensor`` on its L plane);
            or a dict ``{model name: such a function}``: the models then take turns over the
            drawn photos in a random rotation, and :func:`score` reports each model's fooled rate.
        n: how many pairs (default: every photo of the pool).
        names: one name per photo of the pool (default ``"photo i"``, its index in the pool);
            a trial keeps its photo's name, so that a class's answers can be read per image
            (:func:`class_study`).
    """
    if seed is None:
        raise LessonsError("make_pairs needs a seed: give each participant their own (quiz.new_seed()) and "
                           "print it, so that the test can be drawn again")
    x = photos.float() / 255.0 if photos.dtype == torch.uint8 else photos.float()
    if x.dim() != 4 or x.shape[1] != 3:
        raise LessonsError(f"photos must be an RGB batch (N, 3, H, W), got shape {tuple(photos.shape)}")
    models = dict(colorize) if isinstance(colorize, Mapping) else {"": colorize}
    if not models:
        raise LessonsError("make_pairs needs at least one colorizer")
    n = x.shape[0] if n is None else int(n)
    if not 1 <= n <= x.shape[0]:
        raise LessonsError(f"n must be between 1 and the {x.shape[0]} photos of the pool, got {n}")
    gen = torch.Generator().manual_seed(int(seed))
    pick = torch.randperm(x.shape[0], generator=gen)[:n].tolist()           # which photos, in which order
    first = int(torch.randint(len(models), (1,), generator=gen))
    order = [list(models)[(first + i) % len(models)] for i in range(n)]    # the models take turns
    real_left = torch.zeros(n, dtype=torch.bool)
    real_left[: n // 2 + (int(torch.randint(2, (1,), generator=gen)) if n % 2 else 0)] = True
    real_left = real_left[torch.randperm(n, generator=gen)]                # balanced sides, shuffled
    fake = torch.empty_like(x[pick])
    with torch.no_grad():
        for name, fn in models.items():
            idx = [i for i, m in enumerate(order) if m == name]
            if not idx:
                continue
            src = x[[pick[i] for i in idx]]
            out = fn(src).float().clamp(0, 1)
            if out.shape != src.shape:
                raise LessonsError(f"the colorizer {name or ''} returned shape {tuple(out.shape)} for photos of "
                                   f"shape {tuple(src.shape)}".replace("colorizer  ", "colorizer "))
            fake[idx] = out
    trials = []
    for i, j in enumerate(pick):
        left, right = (x[j], fake[i]) if real_left[i] else (fake[i], x[j])
        trials.append(Trial(left, right, "left" if real_left[i] else "right",
                            names[j] if names else f"photo {j}", order[i]))
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


def class_study(tests: Sequence[tuple[Sequence[Trial], Sequence[str]] | Mapping[str, Any]], *, n_boot: int = 2000,
                seed: int = 0) -> dict[str, Any]:
    """A class's answers read as a study: ``tests`` holds each participant's ``(trials, answers)``
    or the JSON record their quiz wrote (:meth:`RealOrColorized.record`).

    The answers are not independent trials: several students judge the same photo, and a photo
    that is easy (or hard) is so for all of them. Pooling every answer into one binomial test
    counts each photo as many times as it was shown and overstates the evidence. The unit of
    the study is the **image**: each photo's fooled rate (the share of its showings where the
    colorization was picked as real), then

    * ``fooled_rate``: the mean over the images of their fooled rates;
    * ``interval``: a 95% bootstrap interval of that mean, resampling images (a cluster
      bootstrap: a photo's answers stay together);
    * ``p_value``: an exact one-sided sign test over the images: among the images whose fooled
      rate is not exactly 1/2, the chance that at least as many were detected (rate < 1/2) as
      observed if each image were equally likely to fall either side;
    * ``pooled_p_value``: the pooled binomial test, for comparison (too small when photos
      repeat across students).
    """
    per_image: dict[str, list[int]] = {}
    right = total = 0
    for test in tests:
        if isinstance(test, Mapping):            # a record of RealOrColorized.record(): names, not images
            trials = [Trial(torch.empty(0), torch.empty(0), real, name, model)
                      for name, real, model in test["trials"]]
            answers = test["answers"]
        else:
            trials, answers = test
        if len(answers) != len(trials):
            raise LessonsError(f"{len(answers)} answers for {len(trials)} trials: answer every pair once")
        for t, a in zip(trials, answers):
            if a not in ("left", "right"):
                raise LessonsError(f"answers must be 'left' or 'right', got {a!r}")
            per_image.setdefault(t.name, []).append(int(a != t.real))
            right += int(a == t.real)
            total += 1
    if not per_image:
        raise LessonsError("no answers yet: class_study needs at least one participant's answers")
    rates = torch.tensor([sum(v) / len(v) for v in per_image.values()], dtype=torch.float64)
    gen = torch.Generator().manual_seed(int(seed))
    idx = torch.randint(len(rates), (n_boot, len(rates)), generator=gen)
    boot = rates[idx].mean(dim=1)
    detected = int((rates < 0.5).sum())
    decided = detected + int((rates > 0.5).sum())
    return {"n_images": len(rates), "n_answers": total, "fooled_rate": float(rates.mean()),
            "interval": (float(boot.quantile(0.025)), float(boot.quantile(0.975))),
            "images_detected": detected, "images_decided": decided,
            "p_value": binomial_tail(detected, decided) if decided else float("nan"),
            "pooled_p_value": binomial_tail(right, total),
            "per_image": {k: sum(v) / len(v) for k, v in per_image.items()}}


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

    def record(self) -> dict[str, Any]:
        """What the instructor collects from each student: the pairs by name (not the images)
        and the answers, JSON-ready (``json.dump(quiz.record(), f)``); :func:`class_study`
        reads a list of them."""
        return {"trials": [[t.name, t.real, t.model] for t in self.trials], "answers": list(self.answers)}

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

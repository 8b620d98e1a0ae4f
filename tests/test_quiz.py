"""The "real or colorized?" study: pairs, scoring against chance, the widget's state."""
import math

import pytest
import torch

from lessons_lib import LessonsError
from lessons_lib.quiz import RealOrColorized, binomial_tail, make_pairs, score


def _photos(n=10):
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def _gray(x):
    return x.mean(1, keepdim=True).expand_as(x)


def test_pairs_hold_the_photo_and_its_colourisation_on_seeded_sides():
    photos = _photos()
    trials = make_pairs(photos, _gray, seed=3)
    assert len(trials) == 10 and {t.real for t in trials} == {"left", "right"}
    for p, t in zip(photos, trials):
        real, fake = (t.left, t.right) if t.real == "left" else (t.right, t.left)
        assert torch.equal(real, p) and torch.allclose(fake, _gray(p[None])[0])
    assert [t.real for t in make_pairs(photos, _gray, seed=3)] == [t.real for t in trials]
    assert [t.real for t in make_pairs(photos, _gray, seed=4)] != [t.real for t in trials]


def test_binomial_tail_matches_the_closed_form():
    assert binomial_tail(0, 10) == pytest.approx(1.0)
    assert binomial_tail(10, 10) == pytest.approx(0.5 ** 10)
    assert binomial_tail(8, 10) == pytest.approx((45 + 10 + 1) / 1024)
    assert binomial_tail(3, 5, 0.3) == pytest.approx(sum(math.comb(5, i) * 0.3 ** i * 0.7 ** (5 - i) for i in (3, 4, 5)))


def test_score_a_perfect_a_guessing_and_a_fooled_participant():
    trials = make_pairs(_photos(), _gray, seed=0)
    perfect = score(trials, [t.real for t in trials])
    assert perfect["correct"] == 10 and perfect["fooled_rate"] == 0 and perfect["p_value"] == pytest.approx(2 ** -10)
    fooled = score(trials, ["left" if t.real == "right" else "right" for t in trials])
    assert fooled["fooled_rate"] == 1 and fooled["p_value"] == pytest.approx(1.0)
    with pytest.raises(LessonsError, match="9 answers for 10 trials"):
        score(trials, ["left"] * 9)
    with pytest.raises(LessonsError, match="'left' or 'right', got 'real'"):
        score(trials, ["real"] * 10)


def test_quiz_state_and_widget():
    quiz = RealOrColorized(make_pairs(_photos(3), _gray, seed=0))
    assert quiz.summary() == "no answers yet"
    box = quiz.widget()
    assert "pair 1 of 3" in box.children[2].value
    box.children[1].children[0].click()                        # "left is real"
    assert quiz.answers == ["left"] and "pair 2 of 3" in box.children[2].value
    quiz.answer("right")
    quiz.answer("left")
    assert quiz.done and quiz.result()["n"] == 3
    with pytest.raises(LessonsError, match="every pair is answered"):
        quiz.answer("left")
    with pytest.raises(LessonsError, match="shape"):
        make_pairs(torch.rand(2, 1, 4, 4), _gray)


def test_pairs_from_several_models_score_each_model():
    photos = _photos(6)
    models = {"gray": _gray, "inverse": lambda x: 1 - x}
    trials = make_pairs(photos, models, seed=1)
    assert [t.model for t in trials] == ["gray", "inverse"] * 3
    for p, t in zip(photos, trials):
        fake = t.right if t.real == "left" else t.left
        assert torch.allclose(fake, models[t.model](p[None])[0])
    # a participant fooled by every "gray" pair and never by an "inverse" one
    answers = [("right" if t.real == "left" else "left") if t.model == "gray" else t.real for t in trials]
    assert score(trials, answers)["by_model"] == {"gray": 1.0, "inverse": 0.0}
    assert "fooled by gray 100%, inverse 0%" in RealOrColorized(trials, answers).summary()
    with pytest.raises(LessonsError, match="colorizer inverse returned shape"):
        make_pairs(photos, {"inverse": lambda x: x[:, :1]})

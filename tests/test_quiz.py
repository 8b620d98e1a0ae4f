"""The "real or colorized?" study: pairs, scoring against chance, the widget's state."""
import math

import pytest
import torch

from lessons_lib import LessonsError
from lessons_lib.quiz import RealOrColorized, binomial_tail, class_study, make_pairs, new_seed, score


def _photos(n=10):
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def _gray(x):
    return x.mean(1, keepdim=True).expand_as(x)


def _index(t):
    return int(t.name.split()[-1])


def test_pairs_hold_the_photo_and_its_colourisation_drawn_by_the_seed():
    photos = _photos()
    trials = make_pairs(photos, _gray, seed=3)
    assert len(trials) == 10 and sorted(_index(t) for t in trials) == list(range(10))   # every photo once
    for t in trials:
        p = photos[_index(t)]
        real, fake = (t.left, t.right) if t.real == "left" else (t.right, t.left)
        assert torch.equal(real, p) and torch.allclose(fake, _gray(p[None])[0])
    same = make_pairs(photos, _gray, seed=3)
    assert [(t.name, t.real) for t in same] == [(t.name, t.real) for t in trials]      # a seed names a test
    other = make_pairs(photos, _gray, seed=4)
    assert [(t.name, t.real) for t in other] != [(t.name, t.real) for t in trials]
    with pytest.raises(LessonsError, match="needs a seed"):
        make_pairs(photos, _gray, seed=None)
    assert new_seed() != new_seed() or new_seed() != new_seed()                          # fresh per participant


@pytest.mark.parametrize("n", [15, 14, 1, 7])
def test_sides_are_balanced_so_answering_left_is_a_guess(n):
    photos = torch.rand(20, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    for seed in range(30):
        trials = make_pairs(photos, _gray, seed=seed, n=n)
        lefts = sum(t.real == "left" for t in trials)
        assert lefts in (n // 2, n // 2 + n % 2), (seed, lefts)
        assert len({t.name for t in trials}) == n
        always_left = score(trials, ["left"] * n)
        assert always_left["p_value"] >= 0.5                 # never "significant": at most half right
    with pytest.raises(LessonsError, match="between 1 and the 20"):
        make_pairs(photos, _gray, seed=0, n=21)


def test_class_study_counts_images_not_answers():
    photos = _photos(12)
    # 20 students, each shown 12 pairs of the same 12 photos (in their own order and sides):
    # 6 photos are always detected, 6 always fool - the class as a whole is at chance
    tests = []
    for s in range(20):
        trials = make_pairs(photos, _gray, seed=s, n=12)
        answers = [t.real if _index(t) < 6 else ("left" if t.real == "right" else "right") for t in trials]
        tests.append((trials, answers))
    r = class_study(tests)
    assert r["n_images"] == 12 and r["n_answers"] == 240
    assert r["fooled_rate"] == pytest.approx(0.5) and r["images_detected"] == 6
    assert r["p_value"] == pytest.approx(binomial_tail(6, 12))
    # 7 detected photos of 12: the pooled test over 240 answers calls it significant, the images do not
    tests = [(t, [x.real if _index(x) < 7 else ("left" if x.real == "right" else "right") for x in t])
             for t, _ in tests]
    r = class_study(tests)
    assert r["pooled_p_value"] < 0.01 < 0.1 < r["p_value"] == pytest.approx(binomial_tail(7, 12))
    lo, hi = r["interval"]
    assert lo < r["fooled_rate"] < hi and hi - lo > 0.2     # 12 images: a wide interval
    with pytest.raises(LessonsError, match="no answers yet"):
        class_study([])
    # the JSON records the students hand in give the same study as the trials themselves
    import json

    records = [json.loads(json.dumps(RealOrColorized(list(t), list(a)).record())) for t, a in tests]
    again = class_study(records)
    assert again["p_value"] == r["p_value"] and again["per_image"] == r["per_image"]


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
        make_pairs(torch.rand(2, 1, 4, 4), _gray, seed=0)


def test_pairs_from_several_models_score_each_model():
    photos = _photos(6)
    models = {"gray": _gray, "inverse": lambda x: 1 - x}
    trials = make_pairs(photos, models, seed=1)
    assert sorted(t.model for t in trials) == ["gray"] * 3 + ["inverse"] * 3          # the models take turns
    assert all(a.model != b.model for a, b in zip(trials, trials[1:]))
    for t in trials:
        p = photos[_index(t)]
        fake = t.right if t.real == "left" else t.left
        assert torch.allclose(fake, models[t.model](p[None])[0])
    # a participant fooled by every "gray" pair and never by an "inverse" one
    answers = [("right" if t.real == "left" else "left") if t.model == "gray" else t.real for t in trials]
    assert score(trials, answers)["by_model"] == {"gray": 1.0, "inverse": 0.0}
    assert "fooled by gray 100%, inverse 0%" in RealOrColorized(trials, answers).summary()
    with pytest.raises(LessonsError, match="colorizer inverse returned shape"):
        make_pairs(photos, {"inverse": lambda x: x[:, :1]}, seed=0)

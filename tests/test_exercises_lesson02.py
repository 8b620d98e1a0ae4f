"""Lesson 02: the generator-objective check, and the figures of the L1-vs-GAN and accuracy sections."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from skimage.color import rgb2lab  # noqa: E402

from lessons_lib.exercises import check_generator_objective  # noqa: E402
from lessons_lib.exercises.lesson02 import pix2pix_generator_objective  # noqa: E402
from lessons_lib.losses import gan_loss, l1_loss  # noqa: E402
from lessons_lib.viz import loss_balance_landscape, plot_loss_balance, show_accuracy_at  # noqa: E402


@pytest.fixture(autouse=True)
def no_leaked_figures():
    plt.close("all")
    yield
    leaked = plt.get_fignums()
    plt.close("all")
    assert not leaked, f"figures left open: {leaked}"


# --------------------------------------------------------------------------- the reference
def test_reference_objective_is_bce_against_ones_plus_weighted_l1():
    g = torch.Generator().manual_seed(0)
    d = torch.randn(2, 1, 5, 5, generator=g) * 3
    fake, real = torch.rand(2, 2, 8, 8, generator=g), torch.rand(2, 2, 8, 8, generator=g)
    # by hand: -log(sigmoid(d)) averaged over the logits, + lambda * mean |fake - real|
    by_hand = (-torch.log(torch.sigmoid(d.double()))).mean() + 50.0 * (fake.double() - real.double()).abs().mean()
    got = pix2pix_generator_objective(d, fake, real, 50.0)
    assert got.dim() == 0
    assert float(got) == pytest.approx(float(by_hand), rel=1e-5)
    bce = F.binary_cross_entropy_with_logits(d, torch.ones_like(d)) + 50.0 * F.l1_loss(fake, real)
    assert float(got) == pytest.approx(float(bce), rel=1e-5)


def test_reference_objective_is_what_the_training_task_uses():
    """The G phase of the colorization task computes exactly this objective."""
    from lessons_lib.models.discriminators import pair
    from lessons_lib.recipes import build_task, get_recipe

    recipe = get_recipe("pix2pix").smoke()
    task = build_task(recipe)
    torch.manual_seed(0)
    task.setup(torch.device("cpu"))
    batch = (torch.rand(2, 3, 32, 32) * 255).to(torch.uint8)
    state = task.forward(task.prepare(batch, torch.device("cpu")))
    task.nets["D"].eval()          # BatchNorm on running statistics: D gives the same map twice
    out = task.loss("G", state, step=0)
    logits = task.nets["D"](pair(state["cond"], state["fake"]))
    expected = pix2pix_generator_objective(logits, state["fake"], state["target"], recipe.lambda_l1)
    assert float(out["loss"].detach()) == pytest.approx(float(expected.detach()), rel=1e-5)


# --------------------------------------------------------------------------- the check
def test_check_accepts_an_independent_formula_and_forbids_the_package():
    res = check_generator_objective(
        lambda d, f, r, lam: F.binary_cross_entropy_with_logits(d, torch.ones_like(d)) + lam * (f - r).abs().mean())
    assert res.passed and res.message.startswith("Correct!")
    for shortcut, name in [
        (lambda d, f, r, lam: gan_loss("vanilla").g_loss(d) + lam * l1_loss(f, r), "GANLoss.g_loss"),
        (lambda d, f, r, lam: F.softplus(-d).mean() + lam * l1_loss(f, r), "l1_loss"),
        (lambda d, f, r, lam: F.softplus(-d).mean() + lam * torch.nn.L1Loss()(f, r), "l1_loss"),
        (pix2pix_generator_objective, "pix2pix_generator_objective"),
    ]:
        res = check_generator_objective(shortcut)
        assert not res.passed and name in res.message and "watched" in res.message, res.message

    def stub(d, f, r, lam):
        raise NotImplementedError

    assert check_generator_objective(stub).status == "not_done"


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda d, f, r, lam: lam * (f - r).abs().mean(), "only the L1 term is there"),
        (lambda d, f, r, lam: F.softplus(-d).mean(), "only the GAN term is there"),
        (lambda d, f, r, lam: torch.log(1 - torch.sigmoid(d)).mean() + lam * (f - r).abs().mean(),
         "minimax (saturating) form"),
        (lambda d, f, r, lam: F.softplus(-d).mean() + (f - r).abs().mean(), "missing its weight"),
        (lambda d, f, r, lam: lam * F.softplus(-d).mean() + (f - r).abs().mean(), "lambda multiplies the GAN term"),
        (lambda d, f, r, lam: F.softplus(-d).mean() + lam * ((f - r) ** 2).mean(), "squared error (L2)"),
        (lambda d, f, r, lam: F.softplus(d).mean() + lam * (f - r).abs().mean(), "labelled the fakes 0"),
        (lambda d, f, r, lam: F.softplus(-d).mean() + lam * (f - r).abs().sum(), "summed over the pixels"),
        (lambda d, f, r, lam: F.softplus(-d).sum() + lam * (f - r).abs().mean(), "summed over the patch logits"),
    ],
)
def test_check_names_the_common_mistakes(answer, words):
    res = check_generator_objective(answer)
    assert not res.passed
    assert words in res.message, res.message


def test_check_never_raises_on_broken_answers():
    def crashes(d, f, r, lam):
        raise RuntimeError("oops")

    res = check_generator_objective(crashes)
    assert not res.passed and "RuntimeError: oops" in res.message
    res = check_generator_objective(lambda d, f, r, lam: 1.0)
    assert not res.passed and "torch.Tensor" in res.message
    res = check_generator_objective(lambda d, f, r, lam: torch.zeros(3))
    assert not res.passed and "shape (3,)" in res.message
    res = check_generator_objective(42)
    assert not res.passed and "pass your function itself" in res.message


# --------------------------------------------------------------------------- the toy landscape
def _hues(n: int = 5, chroma: float = 55.0) -> torch.Tensor:
    h = torch.deg2rad(torch.arange(n, dtype=torch.float64) * 360.0 / n + 30.0)
    return chroma * torch.stack([h.cos(), h.sin()], dim=1)


def test_landscape_terms_match_a_hand_computation():
    y = _hues()
    land = loss_balance_landscape(y, lambda_l1=7.0, sigma=10.0, extent=110.0, n=45)
    i, j = 13, 31                                  # row = b index, column = a index
    c = np.array([land["a"][j], land["b"][i]])
    yn = y.numpy()
    l1 = np.mean(np.abs(c - yn).mean(axis=1)) / 110.0
    realism = -np.log(np.sum(np.exp(-((c - yn) ** 2).sum(axis=1) / (2 * 10.0 ** 2))))
    assert land["l1"][i, j] == pytest.approx(l1, rel=1e-9)
    assert land["realism"][i, j] == pytest.approx(realism, rel=1e-9)
    assert land["total"][i, j] == pytest.approx(realism + 7.0 * l1, rel=1e-9)
    np.testing.assert_allclose(land["l2_optimum"], yn.mean(axis=0), atol=1e-9)


def test_l1_minimum_is_the_median_and_large_lambda_goes_there():
    y = _hues()
    land = loss_balance_landscape(y, lambda_l1=1e4)
    step = land["a"][1] - land["a"][0]
    median = np.median(y.numpy(), axis=0)
    np.testing.assert_allclose(land["l1_optimum"], median)
    r, c = np.unravel_index(np.argmin(land["l1"]), land["l1"].shape)
    assert abs(land["a"][c] - median[0]) <= step and abs(land["b"][r] - median[1]) <= step
    assert np.abs(land["optimum"] - median).max() <= step


def test_small_lambda_picks_a_plausible_colour_and_chroma_falls_with_lambda():
    y = _hues()
    step = 220.0 / 110
    near = loss_balance_landscape(y, lambda_l1=0.1)["optimum"]
    assert np.min(np.abs(y.numpy() - near).max(axis=1)) <= step      # on one of the colours
    chroma = [float(np.hypot(*loss_balance_landscape(y, lam)["optimum"])) for lam in (0.1, 10, 30, 100, 1000)]
    assert all(a >= b - 1e-9 for a, b in zip(chroma, chroma[1:])), chroma
    assert chroma[0] > 50 and chroma[-1] < 15


def test_realism_is_zero_on_an_isolated_colour_and_even_k_median():
    y = torch.tensor([[-100.0, 0.0], [100.0, 0.0]])
    land = loss_balance_landscape(y, 1.0, sigma=5.0, extent=110.0, n=111)
    col = int(np.argmin(np.abs(land["a"] - 100.0)))
    row = int(np.argmin(np.abs(land["b"])))
    assert land["realism"][row, col] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(land["l1_optimum"], [0.0, 0.0])       # midpoint of the two middle values


def test_landscape_rejects_bad_input():
    with pytest.raises(ValueError, match=r"shape \(K, 2\)"):
        loss_balance_landscape(torch.zeros(5, 3), 1.0)
    with pytest.raises(ValueError, match="lambda_l1 >= 0"):
        loss_balance_landscape(_hues(), -1.0)


def test_plot_loss_balance_draws_the_landscape_and_the_swatches():
    fig = plot_loss_balance(_hues(), 100.0)
    assert len(fig.axes) == 3            # landscape, swatches, colour bar
    assert "100" in fig.axes[0].get_title()
    plt.close(fig)


# --------------------------------------------------------------------------- accuracy at t
def test_show_accuracy_at_reports_the_share_of_pixels_within_t():
    g = torch.Generator().manual_seed(3)
    truth = torch.rand(2, 3, 12, 12, generator=g)
    pred = (truth + 0.15 * torch.randn(2, 3, 12, 12, generator=g)).clamp(0, 1)
    t = 20.0
    fig = show_accuracy_at({"noisy": pred, "gray": truth.mean(1, keepdim=True).expand(-1, 3, -1, -1)}, truth, t)
    # reference: skimage's Lab, the ab distance of every pixel of the batch
    lab_t = rgb2lab(truth.permute(0, 2, 3, 1).double().numpy())
    lab_p = rgb2lab(pred.permute(0, 2, 3, 1).double().numpy())
    dist = np.sqrt(((lab_p[..., 1:] - lab_t[..., 1:]) ** 2).sum(-1))
    assert fig.accuracy_at["noisy"] == pytest.approx(float((dist <= t).mean()), abs=2e-3)
    assert set(fig.accuracy_at) == {"noisy", "gray"}
    assert len(fig.axes) == 3
    plt.close(fig)


def test_show_accuracy_at_rejects_bad_input():
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="between 0 and 150"):
        show_accuracy_at(x, x, 200)
    with pytest.raises(ValueError, match="shape"):
        show_accuracy_at(torch.rand(1, 3, 4, 4), x, 10)
    with pytest.raises(ValueError, match="outside the batch"):
        show_accuracy_at(x, x, 10, index=3)
    assert not plt.get_fignums()


# --------------------------------------------------------------------------- section 8: NoGAN's rule
from lessons_lib.checkpoints import choose_by_rule  # noqa: E402
from lessons_lib.exercises import check_checkpoint_rule  # noqa: E402
from lessons_lib.exercises.lesson02 import _RULE_MISTAKES  # noqa: E402


def test_checkpoint_rule_accepts_the_rule_written_out():
    def mine(psnr, colour, tolerance):
        best = max(psnr)
        ok = [i for i, p in enumerate(psnr) if p >= best - tolerance]
        return max(ok, key=lambda i: (colour[i], i))

    assert check_checkpoint_rule(mine).passed
    assert check_checkpoint_rule(lambda p, c, t: torch.tensor(mine(p, c, t))).passed
    r = check_checkpoint_rule(choose_by_rule)
    assert not r.passed and "choose_by_rule" in r.hints[0] and "watched" in r.hints[0]


@pytest.mark.parametrize("hint, wrong", _RULE_MISTAKES, ids=[h[:30] for h, _ in _RULE_MISTAKES])
def test_checkpoint_rule_names_each_mistake(hint, wrong):
    result = check_checkpoint_rule(wrong)
    assert not result.passed and hint in result.hints[0]


def test_checkpoint_rule_reports_other_answers_and_errors():
    r = check_checkpoint_rule(lambda p, c, t: 0)
    assert not r.passed and "you chose index 0, the rule chooses 2" in r.hints[0]

    def unfinished(p, c, t):
        raise NotImplementedError

    assert check_checkpoint_rule(unfinished).status == "not_done"
    assert "got NoneType" in check_checkpoint_rule(lambda p, c, t: None).hints[0]
    assert "pass your function itself" in check_checkpoint_rule(3).hints[0]
    assert choose_by_rule([21.0, 22.0], [30.0, 10.0], 0.3) == 1
    with pytest.raises(ValueError, match="one prefer value per fidelity value"):
        choose_by_rule([1.0], [1.0, 2.0], 0.3)


def _annealed_good(lg, c, t):
    return torch.einsum("bqhw,qc->bchw", torch.softmax(lg / t, dim=1), c)


def test_annealed_mean_check_accepts_the_equation_and_names_the_mistakes():
    from lessons_lib.color.classes import annealed_mean
    from lessons_lib.exercises.lesson02 import check_annealed_mean

    assert check_annealed_mean(_annealed_good)

    def naive(lg, c, t):                    # exp without the max subtracted: overflows at T = 0.05
        e = torch.exp(lg / t)
        return torch.einsum("bqhw,qc->bchw", e / e.sum(1, keepdim=True), c)
    r = check_annealed_mean(naive)
    assert not r and "overflows" in str(r) and "NaN or infinite" in str(r)
    r = check_annealed_mean(lambda lg, c, t: torch.einsum("bqhw,qc->bchw", torch.softmax(lg * t, 1), c))
    assert not r and "multiplied the logits by T" in str(r)
    r = check_annealed_mean(lambda lg, c, t: c[lg.argmax(1)].permute(0, 3, 1, 2))
    assert not r and "that is the mode" in str(r)
    r = check_annealed_mean(lambda lg, c, t: torch.einsum("bqhw,qc->bchw", torch.softmax(lg, 1), c))
    assert not r and "the mean at T = 1 whatever T is" in str(r)
    r = check_annealed_mean(lambda lg, c, t: annealed_mean(lg, c, t))
    assert not r and "annealed_mean" in str(r)

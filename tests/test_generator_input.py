"""Issue 26: one generator-input function, shared by training and inference
(lessons_lib.colorization.inputs): the task and the Colorizer feed G the same tensor."""
from __future__ import annotations

import pytest
import torch

from lessons_lib import LessonsError
from lessons_lib.colorization.inputs import G_INPUTS, generator_input, generator_input_kind
from lessons_lib.data import lab_batch
from lessons_lib.recipes import apply_overrides, build_task, get_recipe


def _photos(n=2, size=16):
    g = torch.Generator().manual_seed(3)
    return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)


@pytest.mark.parametrize("name, overrides, kind, channels", [
    ("pix2pix", {}, "L", 1),
    ("pix2pix", {"lambda_identity": 5.0}, "L00", 3),
    ("seed003_unet", {}, "gray3", 3),
    ("hints", {}, "L+hints", 4),
])
def test_the_task_feeds_g_what_the_card_says_and_inference_rebuilds_it(name, overrides, kind, channels):
    task = build_task(apply_overrides(get_recipe(name).smoke(), **overrides))
    assert task.g_input_kind == kind and task.describe()["g_input"] == kind
    photos = _photos()
    cond, _ = lab_batch(photos, "cpu", task.color_space)
    L, _ = lab_batch(photos, "cpu", "lab")                       # what the Colorizer has: the L plane
    hints = torch.rand(2, 3, 16, 16) if kind == "L+hints" else None
    trained_on = task.g_input(cond, hints)
    served = generator_input(kind, L, hints)                    # the Colorizer's call
    assert trained_on.shape == (2, channels, 16, 16)
    torch.testing.assert_close(served, trained_on, atol=2e-3, rtol=0)   # gray3: from L vs from RGB, 8-bit L


def test_the_colorizer_calls_the_same_function(tmp_path):
    """The Colorizer's input for each card kind is generator_input's, and hints go only to a hint model."""
    from lessons_lib.colorization import Colorizer
    from lessons_lib.train import train

    r = apply_overrides(get_recipe("hints").smoke(), out=str(tmp_path / "h"), device="cpu", steps=1, sample_every=-1)
    result = train(build_task(r), r.train)
    c = Colorizer(result.model_path, device="cpu")
    L = torch.rand(1, 1, 32, 32) * 2 - 1
    hints = torch.rand(1, 3, 32, 32)
    assert c.g_input == "L+hints"
    torch.testing.assert_close(c._generator_input(L, hints), generator_input("L+hints", L, hints))
    torch.testing.assert_close(c._generator_input(L), torch.cat([L, torch.zeros(1, 3, 32, 32)], 1))


def test_kinds_and_bad_input_are_named():
    assert generator_input_kind("rgb", hints=True) == "gray3"
    assert generator_input_kind("lab", chroma_input=True) == "L00"
    assert set(G_INPUTS) == {"L", "L00", "gray3", "L+hints"}
    with pytest.raises(LessonsError, match="unknown generator input 'Lab'"):
        generator_input("Lab", torch.zeros(1, 1, 4, 4))
    with pytest.raises(LessonsError, match="input 'L' reads no colour hints"):
        generator_input("L", torch.zeros(1, 1, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(LessonsError, match=r"expects the L plane \(B, 1, S, S\), got \(1, 2, 4, 4\)"):
        generator_input("L00", torch.zeros(1, 2, 4, 4))

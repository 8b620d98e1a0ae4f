"""Colour hints (issue 14): the simulated user, a user's hints, the hint recipe through the
engine, the Colorizer with hints, `lessons colorize --hint`, and the shipped hint model."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lessons_lib import LessonsError, zoo
from lessons_lib.cli import main
from lessons_lib.color import AB_SCALE, rgb_to_lab, rgb_uint8_to_lab
from lessons_lib.data import synthetic_image, tensor_to_image
from lessons_lib.data.hints import (HINT_P, HintPoints, check_hints, downsample_hints, hint_input, load_hints,
                                    paint_hints, parse_colour, parse_hint, render_hints, sample_hint_points,
                                    simulate_hints)
from lessons_lib.pipeline import Colorizer, evaluate_colorizer, hint_curve
from lessons_lib.recipes import apply_overrides, build_task, get_recipe, run_recipe

pytestmark = pytest.mark.usefixtures("one_thread")


# --------------------------------------------------------------------------- the simulated user
def test_the_number_of_points_is_geometric_from_zero():
    pts = sample_hint_points(40000, 64, 64, generator=torch.Generator().manual_seed(0))
    n = pts.counts(40000).double()
    sd = math.sqrt(HINT_P * (1 - HINT_P) / 40000)
    assert abs(float((n == 0).double().mean()) - HINT_P) < 4 * sd           # P(0) = p = 1/8
    assert abs(float((n == 1).double().mean()) - HINT_P * (1 - HINT_P)) < 4 * sd
    assert abs(float(n.mean()) - (1 - HINT_P) / HINT_P) < 0.15              # mean 7
    assert int(pts.size.min()) == 1 and int(pts.size.max()) == 9
    assert abs(float(pts.size.double().mean()) - 5.0) < 0.05
    # every patch lies inside the image, and the centres gather around the middle
    assert int(pts.y.min()) >= 0 and int((pts.y + pts.size).max()) <= 64
    cy = (pts.y + pts.size / 2).double()
    assert abs(float(cy.mean()) - 32) < 0.3 and 12 < float(cy.std()) < 17   # sigma 16, shrunk by the clamp


def test_count_gives_every_image_that_many_points_and_the_generator_repeats():
    a = sample_hint_points(5, 32, 48, count=10, generator=torch.Generator().manual_seed(3))
    b = sample_hint_points(5, 32, 48, count=10, generator=torch.Generator().manual_seed(3))
    assert a.counts(5).tolist() == [10] * 5
    assert all(torch.equal(getattr(a, k), getattr(b, k)) for k in ("image", "y", "x", "size"))
    assert sample_hint_points(3, 8, 8, p=1.0).counts(3).tolist() == [0, 0, 0]
    with pytest.raises(LessonsError, match="in \\(0, 1\\]"):
        sample_hint_points(3, 8, 8, p=0.0)


def test_render_puts_the_patch_mean_on_the_patch_and_the_later_patch_wins():
    ab = torch.randn(2, 2, 16, 16)
    pts = HintPoints(image=torch.tensor([0, 0, 1]), y=torch.tensor([2, 3, 10]), x=torch.tensor([2, 3, 0]),
                     size=torch.tensor([4, 2, 6]))
    hint, mask = render_hints(ab, pts)
    assert hint.shape == (2, 2, 16, 16) and mask.shape == (2, 1, 16, 16)
    assert int(mask[0].sum()) == 16 and int(mask[1].sum()) == 36                 # 4x4 (with the 2x2 inside), 6x6
    first, second = ab[0, :, 2:6, 2:6].mean((1, 2)), ab[0, :, 3:5, 3:5].mean((1, 2))
    torch.testing.assert_close(hint[0, :, 2, 2], first)
    torch.testing.assert_close(hint[0, :, 3, 3], second)                         # the later patch wins
    torch.testing.assert_close(hint[1, :, 12, 3], ab[1, :, 10:16, 0:6].mean((1, 2)))
    assert float((hint * (1 - mask)).abs().max()) == 0.0
    with pytest.raises(ValueError, match="one ab pair per patch"):
        paint_hints(pts, torch.zeros(2, 2), 2, 16, 16)


def test_simulate_hints_and_the_generator_input():
    ab = torch.rand(4, 2, 32, 32) - 0.5
    hint, mask = simulate_hints(ab, count=3, generator=torch.Generator().manual_seed(1))
    assert set(mask.unique().tolist()) <= {0.0, 1.0} and float(mask.sum()) > 0
    x = hint_input(torch.zeros(4, 1, 32, 32), hint, mask)
    assert x.shape == (4, 4, 32, 32) and torch.equal(x[:, 3:], mask)
    assert torch.equal(hint_input(torch.zeros(1, 1, 8, 8)), torch.zeros(1, 4, 8, 8))


def test_downsampling_keeps_a_one_pixel_hint():
    hints = torch.zeros(1, 3, 64, 64)
    hints[0, :2, 10, 20] = torch.tensor([0.4, -0.2])
    hints[0, 2, 10, 20] = 1
    small = downsample_hints(hints, (16, 16))
    assert small.shape == (1, 3, 16, 16) and int(small[0, 2].sum()) == 1
    torch.testing.assert_close(small[0, :2, 2, 5], torch.tensor([0.4, -0.2]))
    assert downsample_hints(hints, (64, 64)) is hints


# --------------------------------------------------------------------------- a user's hints
def test_colours_and_hints_parse_with_clear_messages(tmp_path):
    assert parse_colour("#c0392b") == (192, 57, 43)
    assert parse_colour("red") == (255, 0, 0) and parse_colour("NavY") == (0, 0, 128)
    assert parse_colour((1, 2, 3)) == (1, 2, 3)
    h = parse_hint("120, 80, forestgreen")
    assert (h.x, h.y, h.rgb, h.hex) == (120.0, 80.0, (34, 139, 34), "#228b22")
    for bad, msg in [("120,80", "X,Y,COLOUR"), ("a,80,red", "x must be a number"), ("1,2,reddish", "unknown colour"),
                     ("1,2,#12345", "unknown colour")]:
        with pytest.raises(LessonsError, match=msg):
            parse_hint(bad)
    with pytest.raises(LessonsError, match="outside the image .width 100 px"):
        parse_hint("100,5,red", (100, 50))
    with pytest.raises(LessonsError, match="y = 50 is outside"):
        check_hints([{"x": 1, "y": 50, "color": "red"}], (100, 50))
    with pytest.raises(LessonsError, match="keys x, y and color"):
        check_hints([{"x": 1, "y": 2, "colour": "red", "size": 3}])
    f = tmp_path / "hints.json"
    f.write_text(json.dumps({"hints": [{"x": 3, "y": 4, "color": "#ff0000"}, [5, 6, "blue"]]}))
    assert [(h.x, h.y, h.hex) for h in load_hints(f)] == [(3, 4, "#ff0000"), (5, 6, "#0000ff")]
    f.write_text("[{'x': 1}]")
    with pytest.raises(LessonsError, match="not valid JSON"):
        load_hints(f)
    f.write_text('{"x": 1}')
    with pytest.raises(LessonsError, match="JSON list"):
        load_hints(f)
    with pytest.raises(LessonsError, match="no hints file"):
        load_hints(tmp_path / "missing.json")


# --------------------------------------------------------------------------- the recipe and the engine
def test_the_recipe_validates_hint_options():
    with pytest.raises(LessonsError, match="color_space='lab'"):
        get_recipe("hints", color_space="rgb")
    with pytest.raises(LessonsError, match="identity"):
        get_recipe("hints", lambda_identity=1.0)
    with pytest.raises(LessonsError, match="hint_p"):
        get_recipe("hints", hint_p=0.0)
    with pytest.raises(LessonsError, match="takes no hints"):
        get_recipe("colorgan", hints=True)
    task = build_task(get_recipe("hints"))
    cfg = task.generator_config()
    assert cfg["in_channels"] == 4 and cfg["max_mult"] == 2 and cfg["base"] == 32
    assert "max_mult" not in build_task(get_recipe("nogan")).generator_config()   # the old cards' config


@pytest.fixture(scope="module")
def smoke_model(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("hints") / "run"
    recipe = apply_overrides(get_recipe("hints").smoke(), out=str(out), steps=3)
    res = run_recipe(recipe)
    return Path(res.model_path)


def test_a_hint_model_trains_through_the_engine_and_its_card_says_so(smoke_model):
    card = json.loads(smoke_model.with_suffix(".json").read_text())
    assert card["g_input"] == "L+hints" and card["config"]["in_channels"] == 4
    assert card["hints"]["p"] == HINT_P and card["hints"]["channels"] == ["hint_a", "hint_b", "mask"]
    assert "psnr" in card["metrics"]


def test_a_resumed_hint_run_draws_the_same_hints(tmp_path):
    # a constant lr: a cosine schedule over 2 steps is another schedule than over 4
    base = apply_overrides(get_recipe("hints").smoke(), steps=4, ckpt_every=2, lr_schedule="constant")
    whole = run_recipe(apply_overrides(base, out=str(tmp_path / "whole")))
    run_recipe(apply_overrides(base, out=str(tmp_path / "split"), steps=2))
    resumed = run_recipe(apply_overrides(base, out=str(tmp_path / "split"), resume=True))
    from safetensors.torch import load_file

    a, b = load_file(whole.model_path), load_file(resumed.model_path)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_validation_of_a_hint_model_uses_the_same_hints_each_time(smoke_model):
    task = build_task(apply_overrides(get_recipe("hints").smoke(), out="unused"))
    task.setup(torch.device("cpu"))
    task.device = torch.device("cpu")
    batch = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    task.nets["G"].eval()
    with torch.no_grad():
        assert task.evaluate([batch]) == task.evaluate([batch])


# --------------------------------------------------------------------------- the Colorizer
def test_hint_map_places_the_colour_at_the_point(smoke_model):
    c = Colorizer(smoke_model, device="cpu")
    assert c.takes_hints and c.g_input == "L+hints" and c.size == 32
    m = c.hint_map(["0,0,#ff0000", {"x": 159, "y": 99, "color": "blue"}], (160, 100))
    assert m.shape == (1, 3, 32, 32)
    assert int(m[0, 2].sum()) == 2 * 9                                       # two 3x3 squares
    red = rgb_uint8_to_lab(torch.tensor([255, 0, 0], dtype=torch.uint8).view(1, 3, 1, 1))[0, 1:, 0, 0] / AB_SCALE
    torch.testing.assert_close(m[0, :2, 0, 0], red)
    assert float(m[0, 2, 31, 31]) == 1.0 and float(m[0, 2, 15, 15]) == 0.0
    with pytest.raises(LessonsError, match="outside the image"):
        c.hint_map(["160,0,red"], (160, 100))


def test_the_colorizer_takes_hints_and_refuses_them_without_a_hint_model(smoke_model):
    c = Colorizer(smoke_model, device="cpu")
    img = tensor_to_image(synthetic_image(0, 64, seed=1)).resize((70, 50))
    assert c(img).size == (70, 50)
    assert c(img, hints=[]).tobytes() == c(img).tobytes()                    # no hints = automatic
    L = torch.zeros(2, 1, 40, 40)
    hints = torch.zeros(2, 3, 40, 40)
    assert torch.equal(c.predict_ab(L, hints=hints), c.predict_ab(L))
    with pytest.raises(ValueError, match="L's batch size 2"):
        c.predict_ab(L, hints=torch.zeros(1, 3, 40, 40))
    nogan = Colorizer(zoo.model_path("nogan"), device="cpu")
    with pytest.raises(LessonsError, match="takes no colour hints.*--model hints"):
        nogan(img, hints=["1,1,red"])
    with pytest.raises(LessonsError, match="takes no colour hints"):
        nogan.predict_ab(L, hints=hints)
    with pytest.raises(LessonsError, match="hint_size"):
        Colorizer(smoke_model, hint_size=0)


def test_evaluate_with_simulated_hints(smoke_model):
    c = Colorizer(smoke_model, device="cpu")
    r = evaluate_colorizer(c, "synthetic", "val", 32, limit=4, hints=5, seed=2)
    again = evaluate_colorizer(c, "synthetic", "val", 32, limit=4, hints=5, seed=2)
    assert r["hints"] == 5 and r["model"]["psnr"] == again["model"]["psnr"]
    with pytest.raises(LessonsError, match="takes no colour hints"):
        evaluate_colorizer(Colorizer(zoo.model_path("nogan"), device="cpu"), "synthetic", "val", 32, limit=2, hints=1)


# --------------------------------------------------------------------------- the shipped model
@pytest.fixture(scope="module")
def shipped():
    path = zoo.model_path(zoo.HINT_MODEL)
    assert path.is_file(), "the hint model ships with the package"
    return Colorizer(path, device="cpu")


def test_the_shipped_hint_model_gains_from_true_hints_on_photos_it_never_saw(shipped):
    """The bundled photos (not in any training pack) at 160 px: 10 hints from the true colours
    beat both no hints and the gray input by a margin (RESULTS.md has the full curve)."""
    curve = hint_curve(shipped, "samples", "val", (0, 10), size=160)
    zero, ten = curve["psnr"]
    assert ten > zero + 1.5, curve
    assert ten > curve["gray"]["psnr"] + 2.0, curve


def test_a_hint_colours_its_region(shipped):
    """A green hint on the (brown) wooden table of coffee.png: the output around it turns
    green, a colour the model never paints there by itself."""
    from lessons_lib.data import sample_files

    img = Image.open({f.stem: f for f in sample_files()}["coffee"]).convert("RGB")
    point, colour = (540, 200), "#20a040"
    out, before = shipped(img, hints=[(*point, colour)]), shipped(img)
    want = rgb_uint8_to_lab(torch.tensor(parse_colour(colour), dtype=torch.uint8).view(1, 3, 1, 1))[0, 1:, 0, 0]

    def hue_gap(picture) -> tuple[float, float]:
        x, y = point
        patch = torch.from_numpy(np.asarray(picture.crop((x - 8, y - 8, x + 9, y + 9)), dtype=np.float32))
        lab = rgb_to_lab(patch.permute(2, 0, 1).unsqueeze(0) / 255.0)
        a, b = float(lab[0, 1].mean()), float(lab[0, 2].mean())
        d = abs(math.degrees(math.atan2(b, a) - math.atan2(float(want[1]), float(want[0])))) % 360
        return min(d, 360 - d), math.hypot(a, b)

    gap, chroma = hue_gap(out)
    assert gap < 35 and chroma > 12, (gap, chroma)
    assert hue_gap(before)[0] > gap + 25                                     # without the hint: far from green


# --------------------------------------------------------------------------- the command line
@pytest.fixture()
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    tensor_to_image(synthetic_image(0, 64, seed=3)).resize((90, 60)).save(path)
    return path


def test_colorize_with_hints_uses_the_hint_model(photo, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main(["colorize", str(photo), str(out), "--hint", "10,10,red", "--hint", "80,50,#0000ff",
                 "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "colorized by hints" in text and "with 2 hints" in text
    f = tmp_path / "hints.json"
    f.write_text(json.dumps([{"x": 5, "y": 5, "color": "yellow"}]))
    assert main(["colorize", str(photo), str(tmp_path / "b.png"), "--hints", str(f), "--hint-size", "5"]) == 0
    assert "with 1 hint" in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.size == (90, 60)


@pytest.mark.parametrize("args, message", [
    (["--hint", "10,10"], "X,Y,COLOUR"),
    (["--hint", "10,10,notacolour"], "unknown colour"),
    (["--hint", "90,10,red"], "x = 90 is outside the image .width 90 px"),
    (["--hint", "1,1,red", "--model", "nogan"], "takes no colour hints"),
    (["--hints", "missing.json"], "no hints file"),
    (["--hint", "1,1,red", "--hint-size", "40"], "hint_size"),
])
def test_bad_hints_are_clear_errors(photo, tmp_path, capsys, args, message):
    assert main(["colorize", str(photo), str(tmp_path / "o.png"), *args]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and __import__("re").search(message, err), err
    assert not (tmp_path / "o.png").exists()


# --------------------------------------------------------------------------- a flood of hints (issue 23)
def _painted_by_loop(pts: HintPoints, values: torch.Tensor, batch: int, h: int, w: int):
    """The plain reading of paint_hints: patch after patch, the later one over the earlier."""
    hint, mask = torch.zeros(batch, 2, h, w), torch.zeros(batch, 1, h, w)
    for k in range(len(pts)):
        b, y, x, s = (int(t[k]) for t in (pts.image, pts.y, pts.x, pts.size))
        hint[b, :, y:y + s, x:x + s] = values[k][:, None, None]
        mask[b, :, y:y + s, x:x + s] = 1.0
    return hint, mask


def test_painting_equals_the_patch_by_patch_loop():
    pts = sample_hint_points(6, 40, 52, count=30, generator=torch.Generator().manual_seed(5))
    values = torch.randn(len(pts), 2, generator=torch.Generator().manual_seed(6))
    hint, mask = paint_hints(pts, values, 6, 40, 52)
    want_hint, want_mask = _painted_by_loop(pts, values, 6, 40, 52)
    assert torch.equal(mask, want_mask) and torch.equal(hint, want_hint)


def test_the_cost_of_a_hint_is_its_patch_not_the_image():
    """Before issue 23 each hint built an (H, W) coverage map: 500 hints on a 1024 px canvas
    allocated 500 x 1024^2 int64 (4 GB). Now the work is the patches plus one owner map."""
    import time
    import tracemalloc

    n, side = 500, 1024
    g = torch.Generator().manual_seed(0)
    pts = HintPoints(image=torch.zeros(n, dtype=torch.long), y=torch.randint(0, side - 3, (n,), generator=g),
                     x=torch.randint(0, side - 3, (n,), generator=g), size=torch.full((n,), 3))
    values = torch.rand(n, 2, generator=g)
    tracemalloc.start()
    t0 = time.perf_counter()
    hint, mask = paint_hints(pts, values, 1, side, side)
    dt = time.perf_counter() - t0
    tracemalloc.stop()
    assert dt < 1.0, dt
    assert 0 < int(mask.sum()) <= 9 * n
    # the same hints on a 16x larger canvas cost about the same per hint: time the difference
    small = HintPoints(image=pts.image, y=pts.y // 4, x=pts.x // 4, size=pts.size)
    t0 = time.perf_counter()
    for _ in range(3):
        paint_hints(small, values, 1, side // 4, side // 4)
    t_small = (time.perf_counter() - t0) / 3
    assert dt < 0.5 or dt < 40 * t_small, (dt, t_small)


def test_too_many_hints_are_refused_at_once_with_the_limit_and_the_count():
    import time

    from lessons_lib.data.hints import MAX_HINTS

    assert MAX_HINTS == 500
    many = [{"x": i % 60, "y": i % 40, "color": "red"} for i in range(200_000)]
    t0 = time.perf_counter()
    with pytest.raises(LessonsError, match="200000 given, the limit is 500"):
        check_hints(many, (90, 60))
    with pytest.raises(LessonsError, match="more than 500 given, the limit is 500"):
        check_hints(iter(many), (90, 60))
    assert time.perf_counter() - t0 < 1.0
    assert len(check_hints(many[:MAX_HINTS], (90, 60))) == MAX_HINTS


def test_the_pipeline_refuses_a_flood_before_decoding_and_takes_the_limit(tmp_path):
    import time

    colorizer = Colorizer(zoo.resolve_model("colorization", zoo.HINT_MODEL), device="cpu")
    img = tensor_to_image(synthetic_image(0, 64, seed=3)).resize((300, 200))
    many = [(i % 300, (i * 7) % 200, "#c0392b") for i in range(50_000)]
    t0 = time.perf_counter()
    with pytest.raises(LessonsError, match="50000 given, the limit is 500"):
        colorizer(img, hints=many)
    assert time.perf_counter() - t0 < 1.0
    t0 = time.perf_counter()
    out = colorizer(img, hints=many[:500])                                   # the limit itself is served
    assert out.size == (300, 200) and time.perf_counter() - t0 < 5.0


def test_the_command_line_refuses_a_flood_quickly(photo, tmp_path, capsys):
    import time

    f = tmp_path / "many.json"
    f.write_text(json.dumps([{"x": i % 90, "y": i % 60, "color": "#c0392b"} for i in range(200_000)]))
    out = tmp_path / "o.png"
    t0 = time.perf_counter()
    assert main(["colorize", str(photo), str(out), "--hints", str(f)]) == 2
    assert time.perf_counter() - t0 < 1.0
    err = capsys.readouterr().err
    assert "200000 given, the limit is 500" in err and not out.exists()
    # --hint and --hints add up: 500 from the file plus one more on the command line
    f.write_text(json.dumps([{"x": i % 90, "y": i % 60, "color": "red"} for i in range(500)]))
    assert main(["colorize", str(photo), str(out), "--hints", str(f), "--hint", "1,1,blue"]) == 2
    assert "501 given, the limit is 500" in capsys.readouterr().err and not out.exists()

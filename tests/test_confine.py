"""Keeping a hint on its object (issue 25, item 4): the geodesic confinement stops at an edge of
L and keeps the network's change on the hint's side; the locality measurement tells a spreading
colorizer from a confined one; the shipped hint card serves the confinement and zoo.rescore
re-scores a card without touching the weights."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from lessons_lib import LessonsError, zoo
from lessons_lib.colorization import Colorizer, hint_locality
from lessons_lib.colorization.confine import Confinement, confine_hints, geodesic_influence

pytestmark = pytest.mark.usefixtures("one_thread")


def _two_halves(h=48, w=64, dark=-0.6, light=0.6):
    """Normalised L: a dark left half and a light right half (an edge of 60 L* at x = w / 2)."""
    L = torch.full((1, h, w), dark)
    L[:, :, w // 2:] = light
    return L


def test_geodesic_influence_stops_at_an_edge_of_l():
    L = _two_halves()
    mask = torch.zeros(1, 48, 64)
    mask[:, 22:26, 20:24] = 1                                   # a hint on the left, 8 px from the edge
    ab = torch.zeros(2, 48, 64)
    ab[0, 22:26, 20:24] = 0.5
    G, H = geodesic_influence(L, mask, ab, Confinement(sigma=0.45, beta=0.6))
    assert G.shape == (1, 48, 64) and H.shape == (2, 48, 64)
    assert float(G[0, 24, 21]) > 0.99                           # at the hint
    left, right = float(G[0, :, 24:30].mean()), float(G[0, :, 34:40].mean())
    assert left > 0.8 and right < 0.15 * left, (left, right)    # the same distance, across the edge
    assert torch.allclose(H[0, 24, 21], torch.tensor(0.5), atol=0.02)   # the hint's own colour
    # without an edge (flat L) the same distance is reached
    Gf, _ = geodesic_influence(torch.zeros(1, 48, 64), mask, ab, Confinement(sigma=0.45, beta=0.6))
    assert float(Gf[0, :, 34:40].mean()) > 4 * right


def test_confine_hints_keeps_the_change_on_the_hints_side_and_pulls_to_its_colour():
    L = _two_halves()[None]                                     # (1, 1, 48, 64)
    hints = torch.zeros(1, 3, 48, 64)
    hints[0, 0, 22:26, 20:24], hints[0, 2, 22:26, 20:24] = 0.5, 1.0
    free = torch.zeros(1, 2, 48, 64)
    hinted = torch.full((1, 2, 48, 64), 0.2)                   # the network tints the whole photo
    out = confine_hints(L, hints, free, hinted, Confinement(pull=0.0))
    kept, beyond = float(out[0, 0, :, :28].mean()), float(out[0, 0, :, 36:].mean())
    assert kept > 0.12 and beyond < 0.1 * kept, (kept, beyond)     # 0.2 everywhere before
    pulled = confine_hints(L, hints, free, hinted, Confinement(pull=1.0))
    assert float(pulled[0, 0, 24, 21]) == pytest.approx(0.5, abs=0.02)    # the hint's own a
    # an image without a hint keeps the network's answer
    none = confine_hints(L, torch.zeros(1, 3, 48, 64), free, hinted, Confinement())
    assert torch.equal(none, hinted)


@pytest.mark.parametrize("value, message", [
    ({"sigma": 0.0}, "sigma must be a number in"), ({"pull": 2}, "pull must be"),
    ({"radius": 1}, "unknown field"), ("strong", "give True/'on'"),
])
def test_bad_confinement_is_refused(value, message):
    with pytest.raises(LessonsError, match=message):
        Confinement.from_value(value)
    with pytest.raises(LessonsError, match=message):
        Colorizer(zoo.model_path("hints"), device="cpu", confine=value)


def test_the_shipped_hint_model_is_served_confined():
    card = json.loads(zoo.model_path("hints").with_suffix(".json").read_text())
    assert card["confine"] == zoo.SPECS["hints"].serving["confine"] == Confinement().to_dict()
    assert Colorizer(zoo.model_path("hints"), device="cpu").confinement == Confinement()
    assert Colorizer(zoo.model_path("hints"), device="cpu", confine=False).confinement is None
    assert Colorizer(zoo.model_path("nogan"), device="cpu").confinement is None     # takes no hints


def test_hint_locality_tells_spreading_from_confined():
    from lessons_lib.data import make_loader
    photos = [b[0] for b in make_loader("samples", 96, 1, split="val", train=False, limit=6, drop_last=False)]
    free = hint_locality(Colorizer(zoo.model_path("hints"), device="cpu", confine=False), photos)
    kept = hint_locality(Colorizer(zoo.model_path("hints"), device="cpu"), photos)
    assert free["n_images"] == kept["n_images"] >= 4
    assert [r["point"] for r in free["rows"]] == [r["point"] for r in kept["rows"]]   # the same hints
    assert kept["ratio"] > 2 * free["ratio"] and kept["outside"] < free["outside"]
    assert 0 < kept["reach"] <= 1.0 and all(r["region_share"] >= 0.02 for r in kept["rows"])
    with pytest.raises(LessonsError, match="takes no colour hints"):
        hint_locality(Colorizer(zoo.model_path("nogan"), device="cpu"), photos)


def test_rescore_serves_the_spec_and_keeps_the_weights(tmp_path):
    for f in ("hints.safetensors", "hints.json"):
        shutil.copy(zoo.WEIGHTS_DIR / f, tmp_path / f)
    card = json.loads((tmp_path / "hints.json").read_text())
    card.pop("confine")
    (tmp_path / "hints.json").write_text(json.dumps(card))
    weights = (tmp_path / "hints.safetensors").read_bytes()
    zoo.rescore("hints", to=tmp_path, limit=4, eval_data=("synthetic",))
    again = json.loads((tmp_path / "hints.json").read_text())
    assert again["confine"] == Confinement().to_dict()
    assert again["sha256"] == card["sha256"] and (tmp_path / "hints.safetensors").read_bytes() == weights
    s = again["shipped"]
    assert s["rescored"]["serving"] == zoo.SPECS["hints"].serving
    assert s["training"] == card["shipped"]["training"]                 # the training record is kept
    assert set(s["hints_heldout"]) == {"synthetic"} and s["hints_heldout"]["synthetic"]["n_images"] == 4
    assert s["hints_samples"]["psnr"] == pytest.approx(card["shipped"]["hints_samples"]["psnr"], abs=0.05)

"""The restoration recipes' warm start (``init_weights``): a stage's network loaded from a run
or from the shipped restorer bundle before training (what lessons 07-09 run in class mode)."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from lessons_lib import LessonsError, zoo
from lessons_lib.recipes import build_task, get_recipe
from lessons_lib.train import train
from lessons_lib.restorer.bundle import load_restorer_parts, load_stage

pytestmark = pytest.mark.usefixtures("one_thread")
BUNDLE = zoo.WEIGHTS_DIR / "restorer"
needs_bundle = pytest.mark.skipif(not (BUNDLE / "restorer.json").is_file(), reason="no shipped restorer")


def _setup(recipe):
    task = build_task(recipe)
    task.device = torch.device("cpu")
    task.setup(task.device)
    return task


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@needs_bundle
def test_nafnet_and_fusion_start_from_the_bundle():
    parts = load_restorer_parts(BUNDLE)
    r = dataclasses.replace(get_recipe("nafnet"), init_weights=str(BUNDLE), data="synthetic")
    assert _same(_setup(r).nets["G"], parts.nafnet)
    r = dataclasses.replace(get_recipe("fusion"), init_weights=str(BUNDLE), nafnet_weights=str(BUNDLE),
                            inversion_weights=str(BUNDLE), residual=True, perceptual_net="kit", data="synthetic")
    task = _setup(r)
    assert _same(task.nets["F"], parts.fusion) and task.sources["init"]["weights"]


@needs_bundle
def test_stylegan2_starts_g_and_g_ema_from_the_bundle_generator():
    g, card = load_stage(BUNDLE, "stylegan2_g", "generator")
    cfg = {k: card["config"][k] for k in ("z_dim", "w_dim", "n_mlp", "channel_base", "channel_max")}
    r = dataclasses.replace(get_recipe("stylegan2"), init_weights=str(BUNDLE), data="synthetic", **cfg)
    task = _setup(r)
    assert _same(task.nets["G"], g) and _same(task.nets["G_ema"], g)


@needs_bundle
def test_a_mismatched_network_is_refused_with_a_hint():
    r = dataclasses.replace(get_recipe("nafnet"), data="synthetic", width=4, init_weights=str(BUNDLE))  # not 16
    with pytest.raises(LessonsError, match="another nafnet"):
        _setup(r)


def test_a_run_folder_warm_starts_the_next_run(tmp_path):
    r = get_recipe("nafnet").smoke()
    first = train(build_task(dataclasses.replace(r, train=r.train.replace(out=str(tmp_path / "a"), overwrite=True))),
                  dataclasses.replace(r.train, out=str(tmp_path / "a"), overwrite=True))
    net, _ = load_stage(tmp_path / "a", "nafnet", "run")
    again = dataclasses.replace(r, init_weights=str(tmp_path / "a"))
    assert first.steps == 2 and _same(_setup(again).nets["G"], net)


@needs_bundle
def test_a_fusion_run_from_the_bundle_writes_a_bundle_of_its_own(tmp_path):
    from lessons_lib.pipeline import Restorer

    r = dataclasses.replace(get_recipe("fusion"), data="synthetic", limit=8, val_limit=4, n_kernels=16,
                            perceptual_net="kit", residual=True, init_weights=str(BUNDLE),
                            nafnet_weights=str(BUNDLE), inversion_weights=str(BUNDLE), write_bundle=True)
    r = dataclasses.replace(r, train=r.train.replace(steps=1, batch_size=2, log_every=1, sample_every=0, eval_every=0,
                                                     ckpt_every=1000, best_metric=None, progress=False,
                                                     out=str(tmp_path / "fusion"), device="cpu"))
    r.after_training(train(build_task(r), r.train))
    outs = Restorer(tmp_path / "fusion" / "restorer", device="cpu").restore_tensor(torch.rand(1, 3, 64, 64))
    assert set(outs) == {"blurred", "x_R", "x_G", "x_hat"}

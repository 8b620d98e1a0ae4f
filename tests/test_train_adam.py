"""The engine's Adam: the fused kernel on CPU, numerically the plain Adam."""
from __future__ import annotations

import torch

from lessons_lib.train.runstate import adam


def _two_optimisers():
    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Conv2d(8, 2, 1))
    b = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Conv2d(8, 2, 1))
    b.load_state_dict(a.state_dict())
    return a, b


def test_fused_on_cpu_and_same_updates_as_plain_adam():
    a, b = _two_optimisers()
    opt_a = adam(a.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_b = torch.optim.Adam(b.parameters(), lr=2e-4, betas=(0.5, 0.999))  # the reference
    assert opt_a.param_groups[0]["fused"] is True
    x = torch.randn(4, 3, 12, 12)
    for _ in range(5):
        for net, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
    # Each Adam step moves a weight by about lr; the two kernels round differently, which
    # shows most where |grad| is near eps (m / (sqrt(v) + eps) is then sensitive): agree to
    # within 5% of one step (measured: under 2%).
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0.05 * 2e-4)
    # the weights did move (5 steps of lr 2e-4: |delta| up to 1e-3)
    a0, _ = _two_optimisers()
    assert max((p - q).abs().max().item() for p, q in zip(a.parameters(), a0.parameters())) > 1e-4


def test_parameter_groups_and_state_dict_round_trip():
    a, _ = _two_optimisers()
    groups = [{"params": list(a[0].parameters())}, {"params": list(a[2].parameters()), "lr": 1e-3}]
    opt = adam(groups, lr=2e-4)
    assert [g["lr"] for g in opt.param_groups] == [2e-4, 1e-3]
    a(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    again = adam([{"params": list(a[0].parameters())}, {"params": list(a[2].parameters()), "lr": 1e-3}], lr=2e-4)
    again.load_state_dict(opt.state_dict())
    p = next(a.parameters())
    torch.testing.assert_close(again.state[p]["exp_avg"], opt.state[p]["exp_avg"])

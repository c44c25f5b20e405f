"""Running the generators for inference: layout and passes change speed, not results."""

import copy

import numpy as np
import torch

from tomoinpaint.nn.config import UNetConfig
from tomoinpaint.nn.inference import (
    CPU_PIXELS_PER_PASS,
    flush_subnormal_weights,
    for_cpu_inference,
    run_deartifact,
)
from tomoinpaint.nn.unet import UNetGenerator


def test_channels_last_and_small_passes_give_the_network_s_result():
    torch.manual_seed(0)
    net = UNetGenerator(UNetConfig(depth=3, base_features=8, norm="group")).eval()
    fast = for_cpu_inference(copy.deepcopy(net))
    assert fast.state_dict().keys() == net.state_dict().keys()
    conv = next(p for p in fast.parameters() if p.ndim == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    n = 256  # more pixels than one pass takes: 5 images go in several passes
    assert CPU_PIXELS_PER_PASS["deartifact"] // (n * n) < 5
    images = np.random.default_rng(0).random((5, n, n)).astype(np.float32)
    scales = np.ones(5, np.float32)
    want = run_deartifact(net, images, scales, batch_size=5)  # one pass, plain layout
    got = run_deartifact(fast, images, scales, batch_size=5)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max())
    for k in range(5):  # each image as alone
        alone = run_deartifact(fast, images[k : k + 1], scales[k : k + 1])
        np.testing.assert_allclose(got[k], alone[0], rtol=0, atol=1e-5 * np.abs(want).max())


def test_subnormal_weights_are_zeroed_for_inference_and_outputs_do_not_change():
    torch.manual_seed(1)
    net = UNetGenerator(UNetConfig(depth=2, base_features=8, norm="group")).eval()
    tiny = torch.finfo(torch.float32).tiny
    with torch.no_grad():
        conv = next(p for p in net.parameters() if p.ndim == 4)
        conv.view(-1)[:50] = tiny / 4  # subnormal
        conv.view(-1)[50:60] = -tiny / 8
        conv.view(-1)[60] = tiny  # the smallest normal number: kept
    images = np.random.default_rng(1).random((2, 64, 64)).astype(np.float32)
    scales = np.ones(2, np.float32)
    want = run_deartifact(net, images, scales)
    fast = for_cpu_inference(copy.deepcopy(net))
    c = next(p for p in fast.parameters() if p.ndim == 4).detach().view(-1)
    assert torch.all(c[:60] == 0)
    assert c[60] == tiny
    assert flush_subnormal_weights(copy.deepcopy(net)) == 60
    assert flush_subnormal_weights(fast) == 0  # nothing left to zero
    np.testing.assert_allclose(run_deartifact(fast, images, scales), want, rtol=0, atol=1e-5)

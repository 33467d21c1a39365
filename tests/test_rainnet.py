import pytest
import torch

from engine.normalization import RAIN, SPADE, InstanceNorm
from engine.rainnet import PRESETS, RainNet, build_rainnet, count_parameters


def small_net(**kw):
    return RainNet(**{"ngf": 4, "depth": 5, **kw})


def test_output_shape_range_and_background_untouched():
    torch.manual_seed(0)
    net = small_net().eval()
    comp = torch.rand(2, 3, 64, 64) * 2 - 1
    mask = torch.zeros(2, 1, 64, 64)
    mask[0, :, 10:30, 10:40] = 1
    mask[1, :, 40:60, 5:20] = 1
    out = net(comp, mask)
    assert out.shape == comp.shape
    assert out.min() >= -1 and out.max() <= 1
    assert torch.equal(out * (1 - mask), comp * (1 - mask))
    assert not torch.allclose(out * mask, comp * mask)


def test_full_depth_reaches_one_pixel_at_256():
    net = RainNet(ngf=2, depth=8)
    x = torch.zeros(1, 4, 256, 256)
    for conv in net.encoder:
        x = conv(x)
    assert x.shape[-2:] == (1, 1)
    assert net.multiple == 256


def test_decoder_uses_the_chosen_norm_and_dropout_only_in_middle_blocks():
    net = RainNet(ngf=2, depth=8, norm="spade")
    assert isinstance(net.decoder[3].norm, SPADE)
    assert net.decoder[0].norm is None  # the outermost block produces the image
    with_dropout = [j for j, block in enumerate(net.decoder) if block.dropout is not None]
    assert with_dropout == [4, 5, 6]
    assert sorted(net.gates) == ["0", "1", "2"]
    assert isinstance(RainNet(ngf=2, depth=4).decoder[1].norm, RAIN)
    assert isinstance(RainNet(ngf=2, depth=4, norm="instance").decoder[1].norm, InstanceNorm)


def test_dropout_is_off_in_eval_and_on_in_train():
    torch.manual_seed(1)
    net = RainNet(ngf=4, depth=6)
    comp = torch.rand(1, 3, 64, 64) * 2 - 1
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    net.eval()
    assert torch.equal(net(comp, mask), net(comp, mask))
    net.train()
    assert not torch.equal(net(comp, mask), net(comp, mask))


def test_rejects_sizes_that_are_not_a_multiple():
    with pytest.raises(ValueError, match="multiple of 32"):
        small_net()(torch.zeros(1, 3, 48, 64), torch.zeros(1, 1, 48, 64))


def test_trains_a_step_and_gradients_reach_every_parameter():
    torch.manual_seed(2)
    net = small_net(dropout=0.0)
    comp = torch.rand(2, 3, 32, 32) * 2 - 1
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    target = comp.clone()
    target[:, 0] = target[:, 0] * 0.5
    loss = (net(comp, mask) - target).abs().mean()
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    # The innermost decoder norm's background affine sees a 1-pixel map that may be all foreground,
    # but everything else must learn.
    assert not [n for n in missing if "decoder.4" not in n], missing


def test_presets_and_parameter_counts():
    assert PRESETS["base"]["ngf"] == 64
    tiny = build_rainnet("tiny")
    assert tiny.config["ngf"] == 16 and tiny.config["depth"] == 8
    # ngf scales parameters roughly quadratically.
    ratio = count_parameters(build_rainnet("small")) / count_parameters(tiny)
    assert 3.5 < ratio < 4.5

"""The transform head: identity at start, curves and affine maps as specified, the same transform at the
working size (inside the network) and at full resolution (engine.color_lift), and model files of it."""
import numpy as np
import pytest
import torch

from engine.color_lift import LocalAffine
from engine.errors import HarmonizerError
from engine.harmonizer import Harmonizer
from engine.model_file import FORMAT_TRANSFORM, load_model, read_info, save_model
from engine.rainnet import RainNet
from engine.transform_head import apply_affine, apply_curves, curve_lut, render


def transform_net(seed=0, nudge=0.05):
    torch.manual_seed(seed)
    net = RainNet(ngf=4, depth=5, head="transform", dropout=0.0)
    with torch.no_grad():  # away from the identity start, so every part of the transform does something
        for p in net.transform.parameters():
            p.add_(torch.randn_like(p) * nudge)
    return net.eval()


def test_an_untrained_head_is_the_identity_and_keeps_the_background():
    net = RainNet(ngf=4, depth=5, head="transform").eval()
    comp = torch.rand(2, 3, 64, 64) * 2 - 1
    mask = torch.zeros(2, 1, 64, 64)
    mask[:, :, 10:40, 20:50] = 1
    assert torch.allclose(net(comp, mask), comp, atol=1e-6)
    out = transform_net()(comp, mask)
    assert torch.equal(out * (1 - mask), comp * (1 - mask))
    assert (out - comp).abs()[mask.expand_as(comp) > 0].mean() > 0.01


def test_the_transform_head_builds_only_the_decoder_it_uses():
    pixel, transform = RainNet(ngf=4, depth=5), RainNet(ngf=4, depth=5, head="transform")
    assert isinstance(transform.decoder[0], torch.nn.Identity) and isinstance(transform.decoder[1], torch.nn.Identity)
    assert sorted(transform.gates) == ["1", "2"] and sorted(pixel.gates) == ["0", "1", "2"]
    curves, grid = transform.predict_transform(torch.zeros(1, 3, 64, 64), torch.ones(1, 1, 64, 64))
    assert curves.shape == (1, 3, 8) and grid.shape == (1, 12, 16, 16)
    with pytest.raises(ValueError, match="predicts no transform"):
        pixel.predict_transform(torch.zeros(1, 3, 64, 64), torch.ones(1, 1, 64, 64))
    with pytest.raises(ValueError, match="unknown head"):
        RainNet(ngf=4, depth=5, head="lut")


def test_curves_are_monotone_and_the_affine_map_is_matrix_times_colour_plus_offset():
    raw = torch.randn(1, 3, 8) * 2
    x = torch.linspace(0, 1, 101).view(1, 1, 101, 1).expand(1, 3, 101, 1)
    y = apply_curves(x, raw)
    assert (y[:, :, 1:] - y[:, :, :-1] >= 0).all()
    assert torch.allclose(apply_curves(x, torch.zeros(1, 3, 8)), x, atol=1e-6)
    lut = curve_lut(raw[0])
    assert lut.shape == (256, 3) and np.allclose(lut[255], y[0, :, -1, 0].numpy(), atol=1e-5)
    a = torch.tensor([[0.9, 0.1, 0.0], [0.0, 1.2, -0.1], [0.05, 0.0, 0.8]])
    b = torch.tensor([0.02, -0.05, 0.1])
    coeffs = torch.cat([a.flatten(), b]).view(1, 12, 1, 1).expand(1, 12, 4, 4)
    px = torch.rand(1, 3, 4, 4)
    expected = torch.einsum("ij,bjhw->bihw", a, px) + b.view(1, 3, 1, 1)
    assert torch.allclose(apply_affine(px, coeffs), expected, atol=1e-6)


def test_full_resolution_applies_the_networks_own_transform():
    """At the working size the engine's output is the network's output; larger, the same transform
    upsampled (the shipped pixels are what training optimised)."""
    net = transform_net(1)
    h = Harmonizer.from_network(net, {"size": 64}, device="cpu")
    rng = np.random.default_rng(0)
    comp = np.clip(rng.normal(120, 40, (64, 64, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((64, 64), np.float32)
    mask[8:56, 8:56] = 1  # its context box is the whole frame
    out = h.harmonize(comp, mask)
    with torch.no_grad():
        t = torch.from_numpy(comp).permute(2, 0, 1)[None].float() / 127.5 - 1
        ref = net(t, torch.from_numpy(mask)[None, None]).clamp(-1, 1).add(1).mul(127.5).round()
    assert np.abs(out.astype(int) - ref[0].permute(1, 2, 0).numpy()).max() <= 1
    # Four times larger: the same colour mapping, applied to the detail of the large image.
    big = np.repeat(np.repeat(comp, 4, 0), 4, 1)
    big_mask = np.repeat(np.repeat(mask, 4, 0), 4, 1)
    big_out = h.harmonize(big, big_mask)
    down = big_out.reshape(64, 4, 64, 4, 3).mean((1, 3))
    inner = mask > 0
    assert np.abs(down[inner] - out[inner]).mean() < 2.0


def test_lift_curves_match_the_network_curves():
    raw = torch.randn(3, 8)
    pixels = np.arange(256, dtype=np.uint8).repeat(3).reshape(16, 16, 3)
    identity = np.zeros((2, 2, 12), np.float32)
    identity[..., [0, 4, 8]] = 1
    out = LocalAffine(identity).apply(pixels, (16, 16), (0, 0, 16, 16), curve_lut(raw))
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
    ref = render(x, raw[None], torch.from_numpy(identity).permute(2, 0, 1)[None]) * 255
    assert np.abs(out - ref[0].permute(1, 2, 0).numpy()).max() < 1e-2


def test_transform_model_files_round_trip_and_bad_configs_fail_clearly(tmp_path):
    net = transform_net(2)
    path = save_model(tmp_path / "t.safetensors", net, {"size": 64}, {})
    info = read_info(path)
    assert info.config["head"] == "transform"
    loaded, _ = load_model(path)
    x, m = torch.rand(1, 3, 64, 64) * 2 - 1, torch.ones(1, 1, 64, 64)
    m[..., :8, :] = 0
    assert torch.allclose(loaded(x, m), net(x, m), atol=2e-2)  # fp16 weights
    import json
    from safetensors import safe_open
    from safetensors.torch import save_file
    with safe_open(str(path), "pt") as fh:
        meta, tensors = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}
    assert meta["format"] == FORMAT_TRANSFORM
    cfg = json.loads(meta["config"])
    cfg["head"] = "lut"
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata={**meta, "config": json.dumps(cfg)})
    with pytest.raises(HarmonizerError, match="bad.safetensors has an unusable architecture config"):
        load_model(tmp_path / "bad.safetensors")

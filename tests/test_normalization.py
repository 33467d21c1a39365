"""Each normalization layer against a slow reference written with explicit loops."""
import math

import pytest
import torch

from engine.normalization import AdaIN, BatchNorm, InstanceNorm, RAIN, SPADE, build_norm, masked_mean_std, resize_mask

EPS = 1e-5


def loop_stats(x, m):
    """Weighted mean/std of a 2-D map x with weights m, by loops; whole-map stats if the region is empty."""
    h, w = x.shape
    area = sum(float(m[i, j]) for i in range(h) for j in range(w))
    if area < 1e-3:
        m = torch.ones_like(x)
        area = float(h * w)
    mean = sum(float(x[i, j] * m[i, j]) for i in range(h) for j in range(w)) / area
    var = sum(float((x[i, j] - mean) ** 2 * m[i, j]) for i in range(h) for j in range(w)) / area
    return mean, math.sqrt(var + EPS)


def reference(kind, x, mask, layer):
    b, c, h, w = x.shape
    out = torch.empty_like(x)
    for n in range(b):
        m = mask[n, 0]
        ones = torch.ones_like(m)
        for ch in range(c):
            xc = x[n, ch]
            if kind == "instance":
                mu, sd = loop_stats(xc, ones)
                y = (xc - mu) / sd * (1 + layer.affine.gamma[0, ch, 0, 0]) + layer.affine.beta[0, ch, 0, 0]
            elif kind == "adain":
                mu, sd = loop_stats(xc, ones)
                mb, sb = loop_stats(xc, 1 - m)
                y = ((xc - mu) / sd * sb + mb) * (1 + layer.affine.gamma[0, ch, 0, 0]) + layer.affine.beta[0, ch, 0, 0]
            elif kind == "rain":
                mf, sf = loop_stats(xc, m)
                mb, sb = loop_stats(xc, 1 - m)
                g_f, b_f = layer.fg_affine.gamma[0, ch, 0, 0], layer.fg_affine.beta[0, ch, 0, 0]
                g_b, b_b = layer.bg_affine.gamma[0, ch, 0, 0], layer.bg_affine.beta[0, ch, 0, 0]
                fg = ((xc - mf) / sf * sb + mb) * (1 + g_f) + b_f
                bg = (xc - mb) / sb * (1 + g_b) + b_b
                y = fg * m + bg * (1 - m)
            out[n, ch] = y
    return out


def make_masks():
    torch.manual_seed(0)
    soft = torch.rand(2, 1, 6, 5)
    hard = (torch.rand(2, 1, 6, 5) > 0.5).float()
    empty_fg = torch.zeros(2, 1, 6, 5)
    empty_bg = torch.ones(2, 1, 6, 5)
    mixed = torch.stack([torch.zeros(1, 6, 5), (torch.rand(1, 6, 5) > 0.3).float()])  # per-sample masks differ
    return {"soft": soft, "hard": hard, "empty_fg": empty_fg, "empty_bg": empty_bg, "mixed": mixed}


def randomize_affines(layer):
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_(0, 0.3)


@pytest.mark.parametrize("kind", ["instance", "adain", "rain"])
@pytest.mark.parametrize("mask_name", list(make_masks()))
def test_matches_loop_reference(kind, mask_name):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 6, 5) * 2 + 1
    mask = make_masks()[mask_name]
    layer = build_norm(kind, 3)
    randomize_affines(layer)
    got = layer(x, mask)
    want = reference(kind, x, mask, layer)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_rain_restyles_foreground_to_background_statistics():
    torch.manual_seed(2)
    x = torch.randn(1, 2, 16, 16)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    x = x + mask * 5  # the foreground is much brighter than the background
    y = RAIN(2)(x, mask)
    fg_mean, fg_std = masked_mean_std(y, mask)
    bg_mean_in, bg_std_in = masked_mean_std(x, 1 - mask)
    torch.testing.assert_close(fg_mean, bg_mean_in, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(fg_std, bg_std_in, rtol=1e-3, atol=1e-3)


def test_mask_is_resized_to_feature_map():
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :32, :] = 1
    small = resize_mask(mask, (4, 4))
    assert small.shape == (1, 1, 4, 4)
    assert small[0, 0, 0, 0] == 1 and small[0, 0, 3, 0] == 0
    x = torch.randn(1, 3, 4, 4)
    assert RAIN(3)(x, mask).shape == x.shape


@pytest.mark.parametrize("kind", ["instance", "adain", "rain", "spade", "batch"])
def test_gradients_reach_gamma_and_beta(kind):
    torch.manual_seed(3)
    layer = build_norm(kind, 4)
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    mask = (torch.rand(2, 1, 8, 8) > 0.5).float()
    layer(x, mask).square().sum().backward()
    named = dict(layer.named_parameters())
    assert named, "every layer has learnable parameters"
    for name, p in named.items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        if "gamma" in name or "beta" in name:
            assert p.grad.abs().sum() > 0, name
    assert torch.isfinite(x.grad).all()


def test_spade_starts_as_instance_norm_and_then_depends_on_mask():
    torch.manual_seed(4)
    x = torch.randn(1, 3, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :, :4] = 1
    spade = SPADE(3)
    mean, std = masked_mean_std(x)
    torch.testing.assert_close(spade(x, mask), (x - mean) / std)
    randomize_affines(spade)
    a = spade(x, mask)
    b = spade(x, 1 - mask)
    assert not torch.allclose(a, b)


def test_batch_norm_uses_batch_statistics_then_running_ones():
    torch.manual_seed(5)
    bn = BatchNorm(2)
    x = torch.randn(4, 2, 5, 5) * 3 + 2
    y = bn(x)
    for ch in range(2):
        vals = x[:, ch].flatten()
        mean = vals.mean()
        std = torch.sqrt(((vals - mean) ** 2).mean() + EPS)
        torch.testing.assert_close(y[:, ch], (x[:, ch] - mean) / std, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(bn.running_mean.flatten(), 0.1 * x.mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-4)
    bn.eval()
    y_eval = bn(x)
    assert torch.isfinite(y_eval).all() and not torch.allclose(y_eval, y)


def test_instance_norm_ignores_mask_and_unknown_name_is_an_error():
    x = torch.randn(1, 2, 4, 4)
    layer = InstanceNorm(2)
    torch.testing.assert_close(layer(x, torch.zeros(1, 1, 4, 4)), layer(x, torch.ones(1, 1, 4, 4)))
    assert isinstance(build_norm("adain", 2), AdaIN)
    with pytest.raises(ValueError, match="unknown normalization"):
        build_norm("layer", 2)

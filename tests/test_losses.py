import pytest
import torch

from trainer.losses import MIN_AREA, fn_mse, reconstruction_loss


def test_fn_mse_weighs_each_image_by_its_own_foreground():
    real = torch.zeros(2, 3, 20, 20)
    out = real.clone()
    mask = torch.zeros(2, 1, 20, 20)
    mask[0, :, :10, :10] = 1  # 100 px
    mask[1, :, :, :] = 1  # 400 px
    out[0, :, :10, :10] = 0.5  # error 0.25 on the whole small foreground
    out[1, :, :10, :10] = 0.5  # the same error on a quarter of the large one
    assert fn_mse(out, real, mask).item() == pytest.approx((0.25 + 0.0625) / 2)
    # Outside the mask nothing counts.
    out[:, :, 15:, 15:] = 9.0
    mask[1, :, 15:, 15:] = 0
    assert fn_mse(out, real, mask).item() == pytest.approx((0.25 + 0.25 * 100 / 375) / 2)


def test_fn_mse_floors_the_area_of_a_speck():
    real, out = torch.zeros(1, 3, 100, 100), torch.zeros(1, 3, 100, 100)
    mask = torch.zeros(1, 1, 100, 100)
    mask[..., 0, 0] = 1
    out[..., 0, 0] = 1.0
    assert fn_mse(out, real, mask).item() == pytest.approx(1.0 / (MIN_AREA * 100 * 100))


def test_reconstruction_loss_names():
    x = torch.zeros(1, 3, 4, 4)
    m = torch.ones(1, 1, 4, 4)
    assert reconstruction_loss(x + 1, x, m, "l1").item() == pytest.approx(1.0)
    assert reconstruction_loss(x + 1, x, m, "fnmse").item() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        reconstruction_loss(x, x, m, "ssim")

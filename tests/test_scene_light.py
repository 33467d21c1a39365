"""The bundled model takes the scene's light: re-light the background and the object follows it part of the
way (benchmarks/scene_gain.py measures this on the validation photos; here on the bundled real sample)."""
import numpy as np

from benchmarks.scene_gain import gains, relight_background
from engine.bundled import bundled_dir
from engine.harmonizer import Harmonizer
from engine.image_io import read_image


def sample():
    samples = bundled_dir("samples")
    bg, _ = read_image(samples / "background.jpg")
    fg, alpha = read_image(samples / "foreground.png")
    mask = alpha.astype(np.float32) / 255
    return np.clip(bg * (1 - mask[..., None]) + fg * mask[..., None] + 0.5, 0, 255).astype(np.uint8), mask


def test_relighting_the_background_leaves_the_object_and_moves_the_rest():
    photo, mask = sample()
    warm = relight_background(photo, mask, (1.3, 1.0, 0.77))
    assert np.array_equal(warm[mask == 1], photo[mask == 1])
    outside = warm[mask == 0].astype(int)
    assert (outside[:, 0] - outside[:, 2]).mean() > (photo[mask == 0][:, 0].astype(int) - photo[mask == 0][:, 2]).mean() + 5


def test_the_default_model_follows_a_warmer_or_cooler_scene():
    """The model before scene-light training moved the astronaut a quarter of the way (colour gain 0.26),
    the default now 0.38, the classical method 0.81."""
    photo, mask = sample()
    colour, _ = gains(Harmonizer("default", device="cpu"), photo, mask)
    assert colour > 0.33

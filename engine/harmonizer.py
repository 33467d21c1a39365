"""The stateful API: load a model once, harmonize many composites at their full resolution.

torch is imported only where a network is loaded or run, so the classical method never pays for its
import, which takes seconds.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np

from engine.blend import curved, mean_grid
from engine.classical import classical_region
from engine.color_lift import LocalAffine
from engine.compositing import Harmonization, mask_box, nonzero_box, reference_where
from engine.errors import CancelledError, HarmonizerError, MaskError
from engine.model_file import ModelInfo, load_model
from engine.photo_match import PhotoStyle, shrink, side_by_side
from engine.registry import resolve_model

if TYPE_CHECKING:
    import torch

METHODS = ("rain", "classical")
# The network sees the foreground with this much context on each side (as a fraction of the
# foreground's larger side): enough background to read the scene's light, not so much that a small
# object shrinks to a few pixels at the working size.
CONTEXT = 1.0
Progress = Callable[[float, str], None] | None
Cancel = Callable[[], bool] | None


def check_inputs(composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Validate shapes and return the mask as float32 0..1; errors are one line for the user."""
    if composite.ndim != 3 or composite.shape[2] != 3 or composite.dtype != np.uint8:
        raise HarmonizerError(f"composite must be an H x W x 3 uint8 RGB image, got {composite.shape} {composite.dtype}")
    if mask.shape[:2] != composite.shape[:2]:
        raise MaskError(
            f"mask is {mask.shape[1]}x{mask.shape[0]} but the composite is {composite.shape[1]}x{composite.shape[0]}"
        )
    mask = unit_mask(mask, "mask")
    if not (mask > 0.01).any():
        raise MaskError("the mask is empty: paint the foreground that should be harmonized")
    if (mask > 0.99).all():
        raise MaskError("the mask covers the whole image: some background is needed to harmonize against")
    return mask


def unit_mask(mask: np.ndarray, what: str) -> np.ndarray:
    """A mask as float32 0..1 H x W: 0..255 masks (integers, or floats well above 1) are scaled, a float
    0..1 mask that a blur left at 1.0000001 is kept, NaN and infinities refused (clipping would make them
    an arbitrary level)."""
    integer = mask.dtype.kind in "uib"
    if mask.ndim == 3:
        mask = mask[..., 0]
    mask = mask.astype(np.float32, copy=False)
    if not integer and not np.isfinite(mask).all():
        raise MaskError(f"the {what} holds NaN or infinite values")
    peak = mask.max(initial=0)
    if (integer and peak > 1) or peak > 1.5:
        mask = mask / np.float32(255)
    if mask.min(initial=0) < 0 or mask.max(initial=0) > 1:
        mask = np.clip(mask, 0, 1)
    return mask


def check_reference(reference, composite: np.ndarray) -> np.ndarray | None:
    """The reference area as float32 0..1 of the composite's size, or None."""
    if reference is None:
        return None
    reference = np.asarray(reference)
    if reference.shape[:2] != composite.shape[:2]:
        raise MaskError(f"the reference area is {reference.shape[1]}x{reference.shape[0]} but the composite is "
                        f"{composite.shape[1]}x{composite.shape[0]}")
    return unit_mask(reference, "reference area")


def check_style(style: PhotoStyle | None) -> PhotoStyle | None:
    """Another photo to match (engine.photo_match), checked and kept small; bad input is one clear line."""
    if style is None or (not isinstance(style.alpha, (bool, str, bytes)) and style.alpha == 0):
        return None  # alpha 0 is the scene's own light: exactly the harmonization without a photo
    photo = np.asarray(style.photo)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise HarmonizerError(f"the photo to match must be an H x W x 3 uint8 RGB image, got {photo.shape} {photo.dtype}")
    alpha = style.alpha
    if isinstance(alpha, (bool, str, bytes)) or not isinstance(alpha, (int, float, np.number)) or not 0 <= alpha <= 1:
        raise HarmonizerError(f"the photo's weight (alpha) must be a number between 0 and 1, got {alpha!r}")
    area = None
    if style.area is not None:
        area = np.asarray(style.area)
        if area.shape[:2] != photo.shape[:2]:
            raise MaskError(f"the photo's area is {area.shape[1]}x{area.shape[0]} but the photo is "
                            f"{photo.shape[1]}x{photo.shape[0]}")
        area = shrink(unit_mask(area, "photo's area"))
        if np.count_nonzero(area > 0.5) < 16:
            raise MaskError("the area of the photo to match is empty or too small")
    return PhotoStyle(shrink(photo), area, float(alpha))


def check_strength(strength) -> float:
    """The strength as a float in 0..1; a string, None or NaN is one clear line, not a TypeError."""
    if isinstance(strength, (bool, str, bytes)) or not isinstance(strength, (int, float, np.number)):
        raise HarmonizerError(f"strength must be a number between 0 and 1, got {strength!r}")
    if not 0.0 <= float(strength) <= 1.0:
        raise HarmonizerError(f"strength must be between 0 and 1, got {strength}")
    return float(strength)


def context_box(mask: np.ndarray, context: float = CONTEXT) -> tuple[int, int, int, int]:
    h, w = mask.shape
    x0, y0, x1, y1 = mask_box(mask)
    pad = int(round(max(x1 - x0, y1 - y0) * context))
    return max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)


class Harmonizer:
    """Holds one loaded model (or the classical method) and harmonizes composites with it.

    >>> h = Harmonizer(model="default")            # doctest: +SKIP
    >>> out = h.harmonize(composite, mask)          # doctest: +SKIP
    """

    def __init__(self, model: str = "default", method: str = "rain", device: str = "auto",
                 working_size: int | None = None, lead_only: bool = False):
        """`working_size` overrides the size the model file says the network runs at (evaluations);
        `lead_only` runs a blend's lead network alone (faster; engine.blend)."""
        if method not in METHODS:
            raise HarmonizerError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        self.method = method
        self.notice = ""  # last non-fatal message for the user (e.g. a fallback to the CPU)
        self.net = None
        self.info = None
        if method == "classical":
            self.device = None  # no network: it runs on the CPU with numpy and OpenCV
            self.model_name = "classical"
            return
        from engine.devices import pick_device

        self.device = pick_device(device)
        self.net, self.info = load_model(resolve_model(model), "cpu", lead_only=lead_only)
        if working_size is not None:
            if working_size < self.net.multiple or working_size % self.net.multiple:
                raise HarmonizerError(f"the working size must be a multiple of {self.net.multiple} for this model")
            self.info.config["train_size"] = self.info.train_size
            self.info.config["size"] = working_size
        self.model_name = self.info.name
        self._to(self.device)

    @classmethod
    def from_network(cls, net, config: dict | None = None, name: str = "in-memory", device: str = "auto"):
        """Wrap a network that is already in memory (a trainer's model being validated, a benchmark)."""
        from engine.devices import pick_device

        self = cls.__new__(cls)
        self.method, self.notice = "rain", ""
        self.net = net.eval()
        self.info = ModelInfo(name, None, {**getattr(net, "config", {}), **(config or {})})
        self.model_name = name
        self._to(pick_device(device))
        return self

    @property
    def device_name(self) -> str:
        if self.method == "classical":
            return "CPU"
        from engine.devices import describe_device

        return describe_device(self.device)

    @property
    def follows_reference(self) -> bool:
        """Whether a reference area (and another photo to match) changes what this method does."""
        return self.method == "classical" or bool(self._members(following_only=True))

    @property
    def working_size(self) -> int:
        return self.info.working_size if self.info else 256

    def _to(self, device: torch.device) -> None:
        import torch

        self.device = device
        self.net.to(device)
        if device.type == "cuda":
            self.net.to(memory_format=torch.channels_last)

    def harmonize(
        self,
        composite: np.ndarray,
        mask: np.ndarray,
        strength: float = 1.0,
        progress: Progress = None,
        cancel: Cancel = None,
        reference: np.ndarray | None = None,
        style: PhotoStyle | None = None,
    ) -> np.ndarray:
        """Full-resolution harmonization of an RGB uint8 composite; returns uint8 of the same size.
        `reference`: a mask of the area whose light the object should take; `style`: another photo to
        match (see `run`)."""
        strength = check_strength(strength)
        result = self.run(composite, mask, progress, cancel, reference, style)
        out = result.at(strength)
        _Stepper(progress, cancel)(1.0, "done")
        return out

    def run(self, composite: np.ndarray, mask: np.ndarray, progress: Progress = None,
            cancel: Cancel = None, reference: np.ndarray | None = None,
            style: PhotoStyle | None = None) -> Harmonization:
        """The harmonization as a result that gives the picture at any strength (`.at(strength)`).

        `reference` (a mask of the composite's size): the area whose light the object should take, where
        the scene has several (sun and shade), instead of the background around the object. The classical
        method and models trained with reference areas use it; an older model harmonizes against the
        background as before and says so in `notice`.

        `style` (engine.photo_match.PhotoStyle): another photo (or an area of it) whose light the object
        should take, mixed with the scene's by its `alpha`; the classical method and models trained with
        reference areas can."""
        mask = check_inputs(composite, mask)
        reference = check_reference(reference, composite)
        style = check_style(style)
        step = _Stepper(progress, cancel)
        step(0.0, "preparing")
        if self.method == "classical":
            box, region = classical_region(composite, mask, reference, style)
        else:
            if style is not None and not self.follows_reference:
                raise HarmonizerError(f"{self.model_name} was not trained to follow a reference, so it cannot match "
                                      "another photo; use the default model or the classical method")
            if reference is not None and not self.follows_reference:
                self.notice = (f"{self.model_name} was not trained to use a reference area; it harmonized against "
                               "the background around the object (the classical method uses the area)")
                reference = None
            box, region = self._harmonize_network(composite, mask, step, reference, style)
        step(0.95, "blending")
        return Harmonization(composite, mask, box, region)

    def _members(self, following_only: bool = False) -> list[tuple]:
        """(network, working size, weight, trained for reference areas) of each network that takes part: all
        of a blend's (engine.blend), or with `following_only` those trained to follow a reference."""
        from engine.rainnet import Blend

        if isinstance(self.net, Blend):
            found = list(zip(self.net.members, self.net.sizes, self.net.weights, self.net.references))
            found[0] = (found[0][0], self.working_size, *found[0][2:])  # an evaluation's size override
        else:
            found = [(self.net, self.working_size, 1.0, self.info.follows_reference)]
        return [m for m in found if m[3] or not following_only]

    def _harmonize_network(self, composite, mask, step, reference=None,
                           style=None) -> tuple[tuple[int, int, int, int], np.ndarray]:
        """(box, float 0..255 harmonized pixels of the box) where the box covers every non-zero mask pixel."""
        x0, y0, x1, y1 = context_box(mask)
        if reference is not None:
            # The network must see the reference area to read its light: the crop reaches it.
            reference = reference_where(reference, mask).astype(np.float32)
            rx0, ry0, rx1, ry1 = nonzero_box(reference > 0)
            x0, y0, x1, y1 = min(x0, rx0), min(y0, ry0), max(x1, rx1), max(y1, ry1)
        comp_crop, mask_crop = composite[y0:y1, x0:x1], mask[y0:y1, x0:x1]
        # Another photo is seen only by networks that can read it. A reference area goes to the networks
        # trained for it; the others read the whole background as they were trained to, and the blend
        # averages both: on scenes with a second light this scored better than the trained ones alone
        # (benchmarks/reference_check.py, docs/quality.md).
        members = self._members(following_only=style is not None)
        curves, grids = None, []
        for i, (net, size, weight, follows) in enumerate(members):
            comp_low = cv2.resize(comp_crop, (size, size), interpolation=cv2.INTER_AREA)
            mask_low = np.clip(cv2.resize(mask_crop, (size, size), interpolation=cv2.INTER_AREA), 0, 1)
            if mask_low.max() < 0.01:
                # The foreground is far below one working-size pixel; nothing the network could see.
                raise MaskError("the masked region is too small to harmonize; paint a larger area")
            ref_low = None
            if reference is not None and follows:
                ref_low = cv2.resize(reference[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
            step(0.1 + 0.5 * i / len(members), "running the network")
            inputs = (comp_low, mask_low, ref_low)
            if style is not None:  # the photo beside the composite; the left half is the composite's
                inputs = side_by_side(comp_low, mask_low, 1 - mask_low if ref_low is None else ref_low, style, size)
            if i == 0 and net.head == "transform":
                # The network's own transform, upsampled: what it was trained to get right.
                curves, grid = self.predict(*inputs[:2], transform=True, net=net, reference=inputs[2])
                grid = grid[:, : grid.shape[1] * size // inputs[0].shape[1]]
            else:
                out_low = self.predict(*inputs[:2], net=net, reference=inputs[2])[:, :size]
                grid = LocalAffine.fit(curved(comp_low, curves), out_low / np.float32(255), mask_low).coeffs
            grids.append((grid, weight))
        lift = LocalAffine(grids[0][0] if len(grids) == 1 else mean_grid(grids))
        step(0.6, "applying at full resolution")
        bx0, by0, bx1, by1 = mask_box(mask_crop)
        region = lift.apply(comp_crop[by0:by1, bx0:bx1], comp_crop.shape[:2], (bx0, by0, bx1, by1), curves)
        # Clipped before blending, so any strength interpolates towards the picture full strength shows.
        np.clip(region, 0, 255, out=region)
        return (x0 + bx0, y0 + by0, x0 + bx1, y0 + by1), region

    def predict(self, composite: np.ndarray, mask: np.ndarray, transform: bool = False, net=None,
                reference: np.ndarray | None = None):
        """The bare network (a blend's lead unless `net` is given) at working size: uint8 composite + float
        mask (+ float reference area) -> uint8 output (same size), or with `transform` (transform-head
        models) its prediction: (curves 256 x 3, grid h x w x 12)."""
        import torch

        net = net or self._members()[0][0]
        with torch.inference_mode():
            try:
                return self._predict_on(self.device, net, composite, mask, transform, reference)
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                self.notice = "the GPU ran out of memory; harmonized on the CPU instead"
                warnings.warn(self.notice)
                self._to(torch.device("cpu"))
                return self._predict_on(self.device, net, composite, mask, transform, reference)

    def _predict_on(self, device, net, composite, mask, transform: bool, reference):
        import torch

        def plane(a):
            return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None].to(device)

        comp_t = torch.from_numpy(composite).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(device)
        if device.type == "cuda":
            comp_t = comp_t.contiguous(memory_format=torch.channels_last)
        run = net.predict_transform if transform else net
        # Half precision on the GPU; autocast keeps the normalization's reductions in float32.
        cuda = device.type == "cuda"
        with torch.autocast("cuda", dtype=torch.float16) if cuda else contextlib.nullcontext():
            out = run(comp_t, plane(mask), None if reference is None else plane(reference))
        if transform:
            from engine.transform_head import curve_lut

            curves, grid = out
            return curve_lut(curves[0].float().cpu()), np.ascontiguousarray(grid[0].float().permute(1, 2, 0).cpu().numpy())
        out = out.float().clamp(-1, 1).add(1).mul(127.5).round()
        return out[0].permute(1, 2, 0).to("cpu", torch.uint8).numpy()


class _Stepper:
    def __init__(self, progress: Progress, cancel: Cancel):
        self.progress, self.cancel = progress, cancel

    def __call__(self, fraction: float, stage: str) -> None:
        if self.cancel is not None and self.cancel():
            raise CancelledError("harmonization cancelled")
        if self.progress is not None:
            self.progress(fraction, stage)

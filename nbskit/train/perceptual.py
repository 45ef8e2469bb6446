"""Perceptual distance for the stage-3 patch loss and for evaluation: ST-LPIPS (VGG), offline.

ST-LPIPS (Ghildyal & Liu, ECCV 2022) is LPIPS with a shift-tolerant, anti-aliased VGG16 trunk.
Its trained weights — trunk *and* linear heads, one state dict — ship inside the
``stlpips-pytorch`` wheel on PyPI (``weights/vST0.0/vgg_shift_tolerant.pth``). That package
imports torchvision, which core nbskit must never pull, so we only read the weight file and run it
through the small module below. The wheel declares no dependencies, so
``pip install stlpips-pytorch`` (the ``perceptual`` extra) is safe.

It is **not** LPIPS: numbers are labelled "ST-LPIPS" everywhere. Real LPIPS(VGG) is used, and
labelled "LPIPS", only where the ``lpips`` package and its torchvision backbone import.

Network (per the package's source): VGG16 conv layers (3x3, padding 1, ReLU); every max-pool is
replaced by MaxPool(2, stride 1) followed by a reflect-pad of 2 and a fixed [1,2,1]x[1,2,1]/16
depthwise blur at stride 2. Features after relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 are
unit-normalised over channels, their squared difference weighted by a 1x1 linear layer, averaged
over space and summed over the five layers. Inputs are scaled to [-1, 1] then by LPIPS's fixed
per-channel shift/scale.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import warnings
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

STLPIPS_DISTRIBUTION = "stlpips-pytorch"
STLPIPS_WEIGHTS_MEMBER = "stlpips_pytorch/weights/vST0.0/vgg_shift_tolerant.pth"
WEIGHTS_ENV = "NBSKIT_STLPIPS_WEIGHTS"  # a .pth file or the downloaded .whl

# VGG16 configuration "D": conv widths grouped into the five blocks whose last ReLU is tapped.
VGG16_BLOCKS: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
BLUR_TAPS = (1.0, 2.0, 1.0)  # binomial low-pass of the anti-aliased downsampling
BLUR_PADDING = 2  # the package's "pad_more" option: filter size - 1 on every side
NORMALISE_EPS = 1e-10
# Each downsampling maps a side s to s//2 + 1 and its reflect pad needs s - 1 > BLUR_PADDING; after
# three of them the side must still be >= 4 before the fourth, which holds from 18 pixels up.
MIN_INPUT_SIZE = 18


class PerceptualUnavailable(RuntimeError):
    """No perceptual weights could be found; the message says how to install them."""


class AntiAliasedDownsample(nn.Module):
    """MaxPool(2, stride 1) -> reflect pad -> depthwise binomial blur at stride 2. [B,C,H,W] -> [B,C,H',W']"""

    def __init__(self, channels: int):
        super().__init__()
        taps = torch.tensor(BLUR_TAPS)
        kernel = torch.outer(taps, taps) / taps.sum() ** 2
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(x, kernel_size=2, stride=1)
        x = F.pad(x, (BLUR_PADDING,) * 4, mode="reflect")
        return F.conv2d(x, self.kernel, stride=2, groups=x.shape[1])


class ShiftTolerantVGG16(nn.Module):
    """The anti-aliased VGG16 trunk; returns the five tapped feature maps."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList()
        in_channels = 3
        for index, widths in enumerate(VGG16_BLOCKS):
            layers: list[nn.Module] = [AntiAliasedDownsample(in_channels)] if index > 0 else []
            for width in widths:
                layers += [nn.Conv2d(in_channels, width, kernel_size=3, padding=1), nn.ReLU()]
                in_channels = width
            self.blocks.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features


class STLPIPS(nn.Module):
    """ST-LPIPS(VGG) distance. forward(a [B,3,H,W], b [B,3,H,W] in [0,1]) -> [B]."""

    label = "ST-LPIPS"

    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.zeros(1, 3, 1, 1))
        self.register_buffer("scale", torch.ones(1, 3, 1, 1))
        self.trunk = ShiftTolerantVGG16()
        self.linear = nn.ParameterList(nn.Parameter(torch.zeros(1, widths[-1], 1, 1)) for widths in VGG16_BLOCKS)

    def load_package_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Copy the ``stlpips-pytorch`` VGG state dict (its own key names) into this module."""
        with torch.no_grad():
            self.shift.copy_(state["scaling_layer.shift"])
            self.scale.copy_(state["scaling_layer.scale"])
            for index in range(len(VGG16_BLOCKS)):
                self.linear[index].copy_(state[f"lin{index}.model.1.weight"])
            # The package numbers layers across one flat VGG "features" list; take convs in order.
            package_convs = sorted(
                {key.rsplit(".", 1)[0] for key in state if key.startswith("net.") and key.endswith(".bias")},
                key=lambda name: int(name.rsplit(".", 1)[1]),
            )
            own_convs = [m for m in self.trunk.modules() if isinstance(m, nn.Conv2d)]
            if len(package_convs) != len(own_convs):
                raise ValueError(f"expected {len(own_convs)} VGG conv layers in the weights, found {len(package_convs)}")
            for conv, name in zip(own_convs, package_convs):
                conv.weight.copy_(state[f"{name}.weight"])
                conv.bias.copy_(state[f"{name}.bias"])
        self.requires_grad_(False)
        self.eval()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if min(a.shape[-2:]) < MIN_INPUT_SIZE:
            raise ValueError(f"ST-LPIPS needs images of at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}, got {tuple(a.shape[-2:])}")
        features_a = self.trunk((2 * a - 1 - self.shift) / self.scale)
        features_b = self.trunk((2 * b - 1 - self.shift) / self.scale)
        distance = torch.zeros(a.shape[0], dtype=a.dtype, device=a.device)
        for fa, fb, weight in zip(features_a, features_b, self.linear):
            fa = fa / (fa.pow(2).sum(dim=1, keepdim=True).sqrt() + NORMALISE_EPS)
            fb = fb / (fb.pow(2).sum(dim=1, keepdim=True).sqrt() + NORMALISE_EPS)
            distance = distance + ((fa - fb) ** 2 * weight).sum(dim=1).mean(dim=(1, 2))
        return distance


class LPIPSAdapter(nn.Module):
    """Real LPIPS(VGG) from the ``lpips`` package. forward(a, b in [0,1], [B,3,H,W]) -> [B]."""

    label = "LPIPS"

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module.eval().requires_grad_(False)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.module(a, b, normalize=True).flatten()


def find_stlpips_weights() -> Path | zipfile.Path:
    """Locate the ST-LPIPS VGG weights: $NBSKIT_STLPIPS_WEIGHTS (.pth or .whl), else the installed wheel."""
    override = os.environ.get(WEIGHTS_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise PerceptualUnavailable(f"{WEIGHTS_ENV}={override} is not a file")
        return zipfile.Path(path, STLPIPS_WEIGHTS_MEMBER) if path.suffix == ".whl" else path
    try:
        distribution = importlib.metadata.distribution(STLPIPS_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise PerceptualUnavailable(
            f"ST-LPIPS weights not found: install them with `pip install {STLPIPS_DISTRIBUTION}` "
            f"(the nbskit[perceptual] extra) or set {WEIGHTS_ENV} to the .whl or .pth file"
        ) from None
    path = Path(distribution.locate_file(STLPIPS_WEIGHTS_MEMBER))
    if not path.is_file():
        raise PerceptualUnavailable(f"{STLPIPS_DISTRIBUTION} is installed but {path} is missing")
    return path


def load_stlpips(path: Path | zipfile.Path | None = None) -> STLPIPS:
    """Build ST-LPIPS(VGG) from the package's weight file (found automatically when ``path`` is None)."""
    path = find_stlpips_weights() if path is None else path
    with path.open("rb") as stream:
        state = torch.load(stream, map_location="cpu", weights_only=True)
    model = STLPIPS()
    model.load_package_state_dict(state)
    return model


def load_perceptual(prefer_lpips: bool = True) -> nn.Module | None:
    """The best available perceptual distance (LPIPS if importable, else ST-LPIPS), or None with a warning.

    The returned module has a ``label`` attribute ("LPIPS" or "ST-LPIPS") to print beside its numbers.
    """
    if prefer_lpips and importlib.util.find_spec("lpips") is not None:
        try:
            import lpips  # optional; pulls torchvision

            return LPIPSAdapter(lpips.LPIPS(net="vgg", verbose=False))
        except Exception as err:  # noqa: BLE001 - e.g. the backbone cannot be downloaded: fall back
            warnings.warn(f"LPIPS unavailable ({err}); using ST-LPIPS", stacklevel=2)
    try:
        return load_stlpips()
    except PerceptualUnavailable as err:
        warnings.warn(f"perceptual term disabled: {err}", stacklevel=2)
        return None

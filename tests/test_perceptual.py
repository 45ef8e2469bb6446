"""ST-LPIPS: our module against the stlpips-pytorch package's own forward, plus metric properties.

The package imports torchvision (never installed here), so the reference forward is run from the
installed files with torchvision/torchsummary replaced by empty stand-ins: the VGG path we compare
against (``variant='shift_tolerant'``) never calls them.
"""

from __future__ import annotations

import importlib
import sys
import types

import pytest
import torch

from nbskit.train import perceptual


@pytest.fixture(scope="module")
def stlpips_model():
    try:
        return perceptual.load_stlpips()
    except perceptual.PerceptualUnavailable as err:
        pytest.skip(str(err))


@pytest.fixture
def package_lpips(monkeypatch):
    if importlib.util.find_spec("stlpips_pytorch") is None:
        pytest.skip("stlpips-pytorch is not installed")
    torchvision = types.ModuleType("torchvision")
    torchvision.models = types.ModuleType("torchvision.models")
    torchsummary = types.ModuleType("torchsummary")
    torchsummary.summary = None
    monkeypatch.setitem(sys.modules, "torchvision", torchvision)
    monkeypatch.setitem(sys.modules, "torchvision.models", torchvision.models)
    monkeypatch.setitem(sys.modules, "torchsummary", torchsummary)
    for name in [n for n in sys.modules if n.startswith("stlpips_pytorch")]:
        monkeypatch.delitem(sys.modules, name)
    stlpips = importlib.import_module("stlpips_pytorch.stlpips")
    return stlpips.LPIPS(net="vgg", variant="shift_tolerant", verbose=False)


def _images(seed: int, count: int = 2, size: int = 48) -> torch.Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_matches_package_forward(stlpips_model, package_lpips):
    a, b = _images(0), _images(1)
    with torch.no_grad():
        expected = package_lpips(a, b, normalize=True).flatten()
        ours = stlpips_model(a, b)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-6)


def test_blur_kernel_matches_weight_file(stlpips_model):
    state = torch.load(perceptual.find_stlpips_weights().open("rb"), map_location="cpu", weights_only=True)
    ours = stlpips_model.trunk.blocks[1][0].kernel
    torch.testing.assert_close(ours, state["net.slice2.5.filt"])


def test_distance_properties(stlpips_model):
    a, b = _images(2), _images(3)
    with torch.no_grad():
        assert torch.all(stlpips_model(a, a).abs() < 1e-6)
        torch.testing.assert_close(stlpips_model(a, b), stlpips_model(b, a))
        noise = torch.randn(a.shape, generator=torch.Generator().manual_seed(4))
        levels = [stlpips_model(a, (a + s * noise).clamp(0, 1)).mean() for s in (0.02, 0.1, 0.3)]
    assert levels[0] < levels[1] < levels[2]


def test_gradient_reaches_the_input(stlpips_model):
    a = _images(5, count=1, size=32).requires_grad_(True)
    stlpips_model(a, _images(6, count=1, size=32)).sum().backward()
    assert a.grad is not None and a.grad.abs().sum() > 0


def test_too_small_input_is_a_clear_error(stlpips_model):
    small = perceptual.MIN_INPUT_SIZE - 1
    with pytest.raises(ValueError, match="at least"):
        stlpips_model(_images(7, 1, small), _images(8, 1, small))
    stlpips_model(_images(7, 1, perceptual.MIN_INPUT_SIZE), _images(8, 1, perceptual.MIN_INPUT_SIZE))

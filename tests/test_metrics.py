
import pytest
import torch

from preimage import metrics
from preimage.cli import COMMANDS, main


def test_feature_and_image_error_by_hand():
    a = torch.tensor([[3.0, 4.0]])
    b = torch.tensor([[0.0, 4.0]])
    assert metrics.feature_error(a, b).item() == pytest.approx(3 / 4)
    assert metrics.image_error(a, b).item() == pytest.approx(3 / 4)
    assert metrics.feature_error(b, b).item() == 0.0


def test_mv_error_normalizes_by_the_set():
    phi0 = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    phi = phi0 + torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    # pairwise squared distances: 4, 4, 8 -> mean over ordered pairs j != k = 16/3
    assert torch.allclose(metrics.mv_error(phi, phi0), torch.tensor([3 / 16, 0.0, 0.0]))
    with pytest.raises(ValueError):
        metrics.mv_error(phi[:1], phi0[:1])


def test_psnr_and_ssim():
    x = torch.full((1, 3, 16, 16), 0.5)
    y = x + 0.1
    assert metrics.psnr(y, x).item() == pytest.approx(20.0, abs=1e-3)
    img = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(metrics.ssim(img, img), torch.ones(2))
    # not the global RNG: conftest seeds it with 0 before every test, which would draw img again
    other = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    assert float(metrics.ssim(img, other).max()) < 0.5


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(name, capsys):
    assert main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert "example:" in out and f"preimage {name}" in out

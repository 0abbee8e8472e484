import pytest
import torch

from preimage.errors import ConfigError
from preimage.learned import Decoder, build_decoder
from preimage.models import load_model
from preimage.representations import DSIFT, HOG, LBP, CNNLayer

REFNET_LAYERS = ["conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8"]


@pytest.mark.parametrize("layer", REFNET_LAYERS)
def test_decoder_builds_for_every_refnet_layer(layer):
    info = load_model("refnet", pretrained=False)
    rep = CNNLayer(info.module, layer, info.mean, info.std, info.aliases, 32)
    dec = build_decoder(rep, 32, width=32, fc_width=64)
    with torch.no_grad():
        y = dec(rep(torch.rand(2, 3, 32, 32)))
    assert y.shape == (2, 3, 32, 32) and float(y.min()) >= 0 and float(y.max()) <= 1


@pytest.mark.parametrize("rep", [HOG(), HOG(soft=True), DSIFT(), LBP()], ids=["hog", "hogb", "dsift", "lbp"])
def test_decoder_builds_for_every_handcrafted_representation(rep):
    dec = build_decoder(rep, 64, width=32)
    with torch.no_grad():
        assert dec(rep(torch.rand(1, 3, 64, 64))).shape == (1, 3, 64, 64)


def test_decoder_refuses_features_of_another_shape():
    dec = Decoder((27, 8, 8), 64, width=16)
    with pytest.raises(ConfigError, match="27, 8, 8"):
        dec(torch.rand(1, 10, 8, 8))
    with pytest.raises(ConfigError):
        Decoder((3, 4), 32)


def test_a_few_steps_lower_the_pixel_loss():
    torch.manual_seed(0)
    rep = HOG()
    x = torch.rand(4, 3, 32, 32)
    f = rep(x)
    dec = build_decoder(rep, 32, width=16)
    opt = torch.optim.Adam(dec.parameters(), 1e-3)
    losses = []
    for _ in range(30):
        loss = (dec(f) - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]

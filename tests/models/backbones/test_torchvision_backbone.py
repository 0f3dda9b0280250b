import pytest
import torch
import torchvision
from torch import nn

from detkit.models.backbones import TorchvisionBackbone
from detkit.registry import MODELS

STRIDES = [4, 8, 16, 32]


@pytest.mark.parametrize('name, channels', [
    ('resnet18', [64, 128, 256, 512]),
    ('convnext_tiny', [96, 192, 384, 768]),
    ('regnet_x_400mf', [32, 64, 160, 400]),
    ('efficientnet_b0', [24, 40, 112, 1280]),
    ('mobilenet_v3_small', [16, 24, 48, 576]),
    ('swin_t', [96, 192, 384, 768]),  # channels-last inside torchvision, NCHW out
])
def test_families_give_c2_to_c5(name, channels):
    model = MODELS.build(dict(type='TorchvisionBackbone', model_name=name)).eval()
    assert model.stage_strides == model.out_strides == STRIDES
    assert model.stage_channels == model.out_channels == channels
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 96, 128))
    assert [tuple(o.shape) for o in outs] == [(1, c, 96 // s, 128 // s)
                                              for c, s in zip(channels, STRIDES)]
    assert not any(k.startswith(('model.fc.', 'model.classifier.', 'model.head.'))
                   for k in model.state_dict())


def _torchvision_resnet18():
    torch.manual_seed(0)
    tv = torchvision.models.resnet18(weights=None)
    g = torch.Generator().manual_seed(1)
    for m in tv.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean = torch.randn(m.num_features, generator=g) * 0.1
            m.bias.data = torch.randn(m.num_features, generator=g) * 0.1
    return tv.eval()


def test_pretrained_file_gives_torchvisions_features(tmp_path):
    tv = _torchvision_resnet18()
    path = tmp_path / 'resnet18.pth'
    torch.save({'state_dict': tv.state_dict()}, path)
    model = TorchvisionBackbone('resnet18', out_indices=(1, 2),
                                init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    keys = model.state_dict()
    assert 'model.layer3.1.bn2.running_var' in keys  # C4 is returned
    assert not any(k.startswith(('model.layer4.', 'model.fc.')) for k in keys)  # never used
    assert model.out_channels == [128, 256] and model.out_strides == [8, 16]
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        c3, c4 = model.eval()(x)
        c2 = tv.layer1(tv.maxpool(tv.relu(tv.bn1(tv.conv1(x)))))
        torch.testing.assert_close(c3, tv.layer2(c2))
        torch.testing.assert_close(c4, tv.layer3(tv.layer2(c2)))


def test_pretrained_file_that_does_not_fit(tmp_path):
    state = torchvision.models.resnet18(weights=None).state_dict()
    state['layer1.2.conv1.weight'] = state.pop('layer1.0.conv1.weight')  # as if a ResNet-34
    path = tmp_path / 'r34.pth'
    torch.save(state, path)
    model = TorchvisionBackbone('resnet18', init_cfg=dict(type='Pretrained',
                                                           checkpoint=str(path)))
    with pytest.raises(RuntimeError, match=r"r34\.pth' does not fit torchvision 'resnet18': "
                                           r"missing keys \(1\): layer1\.0\.conv1\.weight; "
                                           r"unexpected keys \(1\): layer1\.2\.conv1\.weight$"):
        model.init_weights()


def test_frozen_stages_and_norm_eval():
    model = TorchvisionBackbone('mobilenet_v3_small', frozen_stages=1, norm_eval=False).train()
    features = model.model.features
    # features.0 (stride 2) is the stem, features.1 ends stage 0 (stride 4)
    assert not any(p.requires_grad for m in features[:2] for p in m.parameters())
    assert all(p.requires_grad for p in features[2].parameters())
    assert not features[1].training and features[2].training
    assert features[2].block[0][1].training  # BN trains with norm_eval=False

    stem_only = TorchvisionBackbone('resnet18', frozen_stages=0).train()
    assert not stem_only.model.conv1.weight.requires_grad
    assert not stem_only.model.bn1.weight.requires_grad
    assert stem_only.model.layer1[0].conv1.weight.requires_grad
    assert not stem_only.model.layer1[0].bn1.training  # norm_eval=True, the default


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(model_name='convnext_tine'), KeyError, "did you mean convnext_tiny"),
    (dict(model_name='vit_b_16'), ValueError, 'not a pyramid'),
    (dict(model_name='resnet18', weights='IMAGENET'), ValueError,
     "no weights 'IMAGENET'; choose one of DEFAULT, IMAGENET1K_V1"),
    (dict(model_name='resnet18', weights='DEFAULT',
          init_cfg=dict(type='Pretrained', checkpoint='r18.pth')), ValueError,
     'give only one source of weights'),
    (dict(model_name='squeezenet1_1'), ValueError,
     r"out_indices \(0, 1, 2, 3\) must be non-empty stage indices in 0\.\.2: 'squeezenet1_1' "
     r"has 3 stages, strides \[4, 8, 16\], channels \[128, 256, 512\]"),
    (dict(model_name='resnet18', frozen_stages=5), ValueError, 'frozen_stages must be -1..4'),
    (dict(model_name='resnet18', model_kwargs=dict(dropout=0.1)), TypeError,
     r"model_kwargs \['dropout'\] are not all arguments of torchvision 'resnet18'"),
])
def test_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        TorchvisionBackbone(**kwargs)


def test_wires_a_retinanet_through_out_channels():
    backbone = dict(type='TorchvisionBackbone', model_name='mobilenet_v3_small',
                    out_indices=(1, 2, 3))
    in_channels = MODELS.build(backbone).out_channels
    assert in_channels == [24, 48, 576]
    model = MODELS.build(dict(
        type='RetinaNet', backbone=backbone,
        neck=dict(type='FPN', in_channels=in_channels, out_channels=16, num_outs=5,
                  add_extra_convs='on_input'),
        bbox_head=dict(type='RetinaHead', num_classes=3, in_channels=16, feat_channels=16,
                       stacked_convs=1))).eval()
    with torch.no_grad():
        cls_scores, _ = model(torch.randn(1, 3, 64, 96), mode='tensor')
    assert [tuple(c.shape[2:]) for c in cls_scores] == [(8, 12), (4, 6), (2, 3), (1, 2), (1, 1)]


"""tools/model_converters: torchvision → detkit (equivalence), MMDetection, publishing."""
import hashlib
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from torchvision.models import resnet50
from torchvision.models._meta import _COCO_CATEGORIES
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.retinanet import RetinaNet, _default_anchorgen
from torchvision.ops import FrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from detkit.apis import init_detector
from detkit.apis.inference import load_weights
from detkit.apis.model_converters import (clean_checkpoint, coco91_to_coco80,
                                          convert_torchvision_retinanet)
from detkit.models.utils.level_maps import flatten_levels
from detkit.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
TV_CONFIG = REPO / 'configs' / 'retinanet_r50_fpn_torchvision.py'
TINY_CONFIG = REPO / 'configs' / 'retinanet_r18_fpn_synthetic.py'
MMDET_KEYS = REPO / 'tests' / 'data' / 'mmdet_retinanet_r50_state_dict_keys.txt'
NUM_CLASSES = 3
# multiples of 128: torchvision takes each level's stride as input size // feature size,
# which is the nominal stride only then (docs/converters.md)
HEIGHT, WIDTH = 256, 384


def build_torchvision_retinanet() -> RetinaNet:
    """torchvision's retinanet_resnet50_fpn (v1) as the COCO_V1 weights are: frozen BN,
    P6 from P5, default anchors; random weights with non-trivial BN statistics and a
    classifier bias that lets many anchors pass the 0.05 score threshold."""
    torch.manual_seed(0)
    backbone = _resnet_fpn_extractor(resnet50(norm_layer=FrozenBatchNorm2d), 3,
                                     returned_layers=[2, 3, 4],
                                     extra_blocks=LastLevelP6P7(256, 256))
    # mean 0, std 1 and min/max size = the input's: torchvision's transform is the identity
    model = RetinaNet(backbone, NUM_CLASSES, min_size=HEIGHT, max_size=WIDTH,
                      image_mean=[0., 0., 0.], image_std=[1., 1., 1.],
                      anchor_generator=_default_anchorgen())
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, FrozenBatchNorm2d):
                n = module.weight.numel()
                module.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                module.bias.copy_(torch.randn(n, generator=gen) * 0.1)
                module.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
        model.head.classification_head.cls_logits.bias.normal_(-2.5, 0.5, generator=gen)
        model.head.regression_head.bbox_reg.weight.normal_(0, 0.05, generator=gen)
    return model.eval()


def as_2020_layout(state: dict) -> dict:
    """The key layout of torchvision's published file: ``conv.0, conv.2`` … in the head
    towers (convs and ReLUs alternate), ``inner_blocks.0.weight`` in the FPN."""
    renamed = {}
    for key, value in state.items():
        key = re.sub(r'(head\.\w+_head\.conv\.)(\d+)\.0\.',
                     lambda m: f'{m.group(1)}{2 * int(m.group(2))}.', key)
        key = re.sub(r'(fpn\.(?:inner|layer)_blocks\.\d+)\.0\.', r'\1.', key)
        renamed[key] = value
    return renamed


@pytest.fixture(scope='module')
def torchvision_model():
    return build_torchvision_retinanet()


@pytest.fixture(scope='module')
def converted(torchvision_model, tmp_path_factory, run_tool):
    """from_torchvision.py run on the 2020-layout state dict."""
    folder = tmp_path_factory.mktemp('tv')
    src, dst = folder / 'tv.pth', folder / 'detkit.pth'
    torch.save(as_2020_layout(torchvision_model.state_dict()), src)
    proc = run_tool('model_converters/from_torchvision.py', src, dst)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'{NUM_CLASSES} classes' in proc.stdout
    return dst


def test_both_torchvision_layouts_convert_to_the_same_weights(torchvision_model):
    state = torchvision_model.state_dict()
    new, num_classes = convert_torchvision_retinanet(state)
    old, _ = convert_torchvision_retinanet(as_2020_layout(state))
    assert num_classes == NUM_CLASSES
    assert list(new) == list(old) and all(torch.equal(new[k], old[k]) for k in new)
    assert torch.equal(new['neck.fpn_convs.3.conv.weight'],
                       state['backbone.fpn.extra_blocks.p6.weight'])
    assert torch.equal(new['bbox_head.cls_convs.3.conv.bias'],
                       state['head.classification_head.conv.3.0.bias'])
    # FrozenBatchNorm2d has no num_batches_tracked; detkit's BatchNorm2d needs one
    assert 'backbone.bn1.num_batches_tracked' in new


def test_converted_model_reproduces_torchvision(torchvision_model, converted):
    """Same normalised input → same raw head outputs and the same final detections."""
    model = init_detector(TV_CONFIG, str(converted),
                          cfg_options={'model.bbox_head.num_classes': NUM_CLASSES})
    images = torch.randn(2, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(2))
    captured = {}
    hook = torchvision_model.head.register_forward_hook(
        lambda module, args, out: captured.update(out))
    with torch.no_grad():
        theirs = torchvision_model(list(images))
        cls_scores, bbox_preds = model(images, mode='tensor')
    hook.remove()

    cls_flat = flatten_levels(list(cls_scores), NUM_CLASSES)
    reg_flat = flatten_levels(list(bbox_preds), 4)
    assert cls_flat.shape == captured['cls_logits'].shape == (2, 18414, NUM_CLASSES)
    torch.testing.assert_close(cls_flat, captured['cls_logits'], rtol=0, atol=1e-5)
    torch.testing.assert_close(reg_flat, captured['bbox_regression'], rtol=0, atol=1e-5)

    metas = [dict(img_shape=(HEIGHT, WIDTH), ori_shape=(HEIGHT, WIDTH), scale_factor=(1., 1.),
                  pad_shape=(HEIGHT, WIDTH), batch_input_shape=(HEIGHT, WIDTH))] * 2
    ours = model.bbox_head.predict_by_feat(list(cls_scores), list(bbox_preds),
                                           batch_img_metas=metas, rescale=True)
    for pred, ref in zip(ours, theirs):
        assert 50 < len(ref['boxes']) <= 300
        assert len(pred) == len(ref['boxes'])
        # random weights give tied scores, which the two NMS order differently: match
        # every torchvision detection with ours of the same label and closest box
        cost = (ref['boxes'][:, None] - pred.bboxes[None]).abs().amax(-1)
        cost += 1e6 * (ref['labels'][:, None] != pred.labels[None])
        cost += 1e3 * (ref['scores'][:, None] - pred.scores[None]).abs()
        match = cost.argmin(1)
        assert len(set(match.tolist())) == len(match)  # one to one
        assert torch.equal(pred.labels[match], ref['labels'])
        torch.testing.assert_close(pred.bboxes[match], ref['boxes'], rtol=0, atol=1e-3)
        torch.testing.assert_close(pred.scores[match], ref['scores'], rtol=0, atol=1e-6)


def test_coco80_keeps_the_real_classes_in_detkit_order():
    from detkit.datasets import COCO_CLASSES
    num_anchors, channels = 9, 4
    weight = torch.arange(num_anchors * 91, dtype=torch.float32)[:, None, None, None].expand(
        -1, channels, 3, 3).clone()
    state = {'bbox_head.retina_cls.weight': weight,
             'bbox_head.retina_cls.bias': torch.arange(num_anchors * 91.)}
    out, classes = coco91_to_coco80(state, tuple(_COCO_CATEGORIES))
    assert classes == COCO_CLASSES
    bias = out['bbox_head.retina_cls.bias'].reshape(num_anchors, 80)
    # anchor 2, 'person' (torchvision label 1) and 'toothbrush' (label 90)
    assert bias[2, 0] == 2 * 91 + 1 and bias[2, 79] == 2 * 91 + 90
    assert out['bbox_head.retina_cls.weight'].shape == (num_anchors * 80, channels, 3, 3)


def test_from_torchvision_rejects_other_files(tmp_path, run_tool):
    src = tmp_path / 'resnet.pth'
    torch.save({'conv1.weight': torch.zeros(1)}, src)
    proc = run_tool('model_converters/from_torchvision.py', src, tmp_path / 'out.pth')
    assert proc.returncode == 1
    assert 'not a torchvision RetinaNet state dict' in proc.stderr
    assert 'conv1.weight' in proc.stderr and 'Traceback' not in proc.stderr


def mmdet_r50_state_dict() -> dict:
    """Zeros in the names and shapes of MMDetection 3.3.0's retinanet_r50_fpn_1x_coco."""
    state = {}
    for line in MMDET_KEYS.read_text().splitlines():
        key, shape = line.split('\t')
        state[key] = torch.zeros(eval(shape), dtype=torch.long if 'num_batches' in key
                                 else torch.float32)
    return state


def test_mmdetection_r50_checkpoint_loads_strictly_into_the_default_config():
    cfg = Config.fromfile(REPO / 'configs' / 'retinanet_r50_fpn.py')
    cfg.model.backbone.init_cfg = None
    ckpt = {'state_dict': mmdet_r50_state_dict(), 'optimizer': {'state': {}},
            'meta': {'CLASSES': ('person', 'bicycle'), 'mmdet_version': '2.25.0',
                     'config': 'model = dict(...)'}}
    cleaned = clean_checkpoint(ckpt)
    assert set(cleaned) == {'state_dict', 'meta'}
    assert cleaned['meta'] == {'dataset_meta': {'classes': ('person', 'bicycle')},
                               'mmdet_version': '2.25.0'}
    load_weights(MODELS.build(cfg.model), cleaned['state_dict'], 'mmdet')


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory):
    """A training checkpoint of the demo model (MMDetection's names), with training state."""
    cfg = Config.fromfile(TINY_CONFIG)
    model = MODELS.build(cfg.model)
    path = tmp_path_factory.mktemp('ckpt') / 'epoch_1.pth'
    torch.save({'state_dict': {f'module.{k}': v for k, v in model.state_dict().items()},
                'optimizer': {'state': {i: {'momentum_buffer': p.detach().clone()}
                                        for i, p in enumerate(model.parameters())},
                              'param_groups': [{'lr': 0.01}]},
                'param_schedulers': [{'last_epoch': 1}],
                'meta': {'dataset_meta': {'classes': ('a', 'b', 'c', 'd', 'e')},
                         'epoch': 1, 'cfg': 'model = dict(...)'}}, path)
    return path


def test_from_mmdet_cleans_and_verifies(tiny_checkpoint, tmp_path, run_tool):
    dst = tmp_path / 'clean.pth'
    proc = run_tool('model_converters/from_mmdet.py', tiny_checkpoint, dst,
                    '--config', TINY_CONFIG)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '5 class names kept' in proc.stdout
    out = torch.load(dst, weights_only=True)
    assert set(out) == {'state_dict', 'meta'}
    assert out['meta'] == {'dataset_meta': {'classes': ('a', 'b', 'c', 'd', 'e')}, 'epoch': 1}
    assert not any(k.startswith('module.') for k in out['state_dict'])


def test_from_mmdet_names_the_keys_that_do_not_fit(tiny_checkpoint, tmp_path, run_tool):
    proc = run_tool('model_converters/from_mmdet.py', tiny_checkpoint, tmp_path / 'x.pth',
                    '--config', TINY_CONFIG, '--cfg-options', 'model.bbox_head.num_classes=3')
    assert proc.returncode == 1
    assert 'does not match the model' in proc.stderr
    assert 'bbox_head.retina_cls.weight: checkpoint [45, 64, 3, 3] vs model [27, 64, 3, 3]' \
        in proc.stderr
    assert not (tmp_path / 'x.pth').exists()


def test_publish_model_strips_training_state_and_names_the_hash(tiny_checkpoint, tmp_path,
                                                                run_tool):
    proc = run_tool('model_converters/publish_model.py', tiny_checkpoint,
                    tmp_path / 'retinanet_tiny.pth')
    assert proc.returncode == 0, proc.stderr[-3000:]
    (published,) = tmp_path.glob('retinanet_tiny-*.pth')
    digest = hashlib.sha256(published.read_bytes()).hexdigest()
    assert published.name == f'retinanet_tiny-{digest[:8]}.pth'
    assert str(published) in proc.stdout
    out = torch.load(published, weights_only=True)
    assert set(out) == {'state_dict', 'meta'} and 'epoch' in out['meta']
    assert published.stat().st_size < 0.6 * tiny_checkpoint.stat().st_size  # no momenta


def test_publish_model_refuses_a_pickle_with_code(tmp_path, run_tool):
    src = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': {'hook': Path('x')}}, src)
    proc = run_tool('model_converters/publish_model.py', src, tmp_path / 'out.pth')
    assert proc.returncode == 1
    assert 'Refusing to load checkpoint' in proc.stderr and '--unsafe-load' in proc.stderr


def test_anchor_options_give_torchvision_anchors():
    """``sizes`` + ``round_base_anchors`` (the torchvision config's) = torchvision's grid."""
    from torchvision.models.detection.image_list import ImageList
    from detkit.registry import TASK_UTILS
    cfg = Config.fromfile(TV_CONFIG).model.bbox_head.anchor_generator
    ours = TASK_UTILS.build(cfg)
    sizes = [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]                  # 256 x 384
    feats = [torch.zeros(1, 1, h, w) for h, w in sizes]
    theirs = _default_anchorgen()(ImageList(torch.zeros(1, 3, 256, 384), [(256, 384)]), feats)
    assert torch.equal(torch.cat(ours.grid_priors(sizes)), theirs[0])
    assert ours.base_anchors[1][0].tolist() == [-45., -23., 45., 23.]  # size 64, ratio 0.5


def test_coder_without_centre_clamp_decodes_like_torchvision():
    from torchvision.models.detection._utils import BoxCoder
    from detkit.registry import TASK_UTILS
    ours = TASK_UTILS.build(Config.fromfile(TV_CONFIG).model.bbox_head.bbox_coder)
    anchors = torch.tensor([[0., 0., 32., 16.], [10., 20., 110., 60.]]).repeat(3, 1)
    deltas = torch.tensor([[0.3, -0.2, 0.1, 0.2], [5.0, -4.0, -6.0, 7.0]]).repeat(3, 1)
    theirs = BoxCoder((1., 1., 1., 1.)).decode_single(deltas, anchors)
    torch.testing.assert_close(ours.decode(anchors, deltas), theirs, rtol=0, atol=1e-4)


@pytest.mark.parametrize('script', ['model_converters/from_mmdet.py',
                                    'model_converters/from_torchvision.py',
                                    'model_converters/publish_model.py',
                                    'deployment/export_onnx.py'])
def test_help(script, capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location('tool', REPO / 'tools' / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as exit:
        module.parse_args(['--help'])
    assert exit.value.code == 0 and 'usage:' in capsys.readouterr().out

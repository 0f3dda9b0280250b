"""tools/deployment/export_onnx.py: dynamic-size ONNX that onnxruntime runs like PyTorch."""
import json
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from detkit.apis import init_detector
from detkit.registry import MODELS
from detkit.structures import DetDataSample
from detkit.utils.compat import accepts_keyword
from detkit.utils.optional_import import import_optional

onnx = pytest.importorskip('onnx', reason='needs the onnx extra: pip install "detkit[onnx]"')
ort = pytest.importorskip('onnxruntime', reason='needs the onnx extra')
pytest.importorskip('onnxscript', reason='needs the onnx extra')
if not accepts_keyword(torch.onnx.export, 'dynamo'):
    pytest.skip('ONNX export needs torch>=2.5 (torch.onnx.export(dynamo=True))',
                allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / 'configs' / 'retinanet_r18_fpn_synthetic.py'
CLASSES = ('circle', 'square', 'triangle', 'bar', 'ellipse')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(DEMO).model)
    model.init_weights()
    with torch.no_grad():
        model.bbox_head.retina_cls.bias.fill_(-1.0)   # scores around 0.27: boxes survive
    path = tmp_path_factory.mktemp('onnx') / 'demo.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': CLASSES}}}, path)
    return path


@pytest.fixture(scope='module')
def exported(checkpoint, run_tool):
    out = checkpoint.with_suffix('.onnx')
    proc = run_tool('deployment/export_onnx.py', DEMO, checkpoint, '--out', out,
                    '--shape', 128, 160, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    match = re.search(r'onnxruntime matches PyTorch on inputs 128x160 and 2x96x96: '
                      r'max abs difference (\S+)', proc.stdout)
    assert match and float(match.group(1)) <= 1e-4, proc.stdout
    return out


def test_one_file_with_dynamic_batch_and_size(exported):
    assert not list(exported.parent.glob('*.data'))            # weights inside the file
    model = onnx.load(str(exported))
    (images,) = model.graph.input
    dims = [d.dim_param or d.dim_value for d in images.type.tensor_type.shape.dim]
    assert dims[1] == 3 and all(isinstance(d, str) for d in (dims[0], dims[2], dims[3]))
    assert [o.name for o in model.graph.output] == (
        [f'cls_score_s{s}' for s in (8, 16, 32, 64, 128)]
        + [f'bbox_pred_s{s}' for s in (8, 16, 32, 64, 128)])
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta['classes']) == list(CLASSES)
    assert json.loads(meta['mean']) == pytest.approx([123.675, 116.28, 103.53])
    assert meta['pad_size_divisor'] == '32'


def test_onnxruntime_outputs_and_detections_match_pytorch(exported, checkpoint):
    """A size not seen at export; post-processing outside the graph, as docs/faq.md shows."""
    model = init_detector(DEMO, str(checkpoint))
    images = torch.randn(2, 3, 96, 224, generator=torch.Generator().manual_seed(3))
    session = ort.InferenceSession(str(exported), providers=['CPUExecutionProvider'])
    outputs = [torch.from_numpy(o) for o in session.run(None, {'images': images.numpy()})]
    with torch.no_grad():
        cls_scores, bbox_preds = model(images, mode='tensor')
    for ours, theirs in zip(outputs, list(cls_scores) + list(bbox_preds)):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-4)

    metas = [dict(img_shape=(96, 224), ori_shape=(96, 224), scale_factor=(1.0, 1.0),
                  pad_shape=(96, 224), batch_input_shape=(96, 224)) for _ in range(2)]
    from_onnx = model.bbox_head.predict_by_feat(outputs[:5], outputs[5:], batch_img_metas=metas,
                                                rescale=True)
    with torch.no_grad():
        reference = model.predict(images, [DetDataSample(metainfo=m) for m in metas])
    for ours, ref in zip(from_onnx, reference):
        ref = ref.pred_instances
        assert len(ours) == len(ref) > 0
        torch.testing.assert_close(ours.scores, ref.scores, rtol=0, atol=1e-4)
        assert (ours.labels == ref.labels).float().mean() > 0.95   # ties may swap


def test_missing_extra_names_the_install_command():
    with pytest.raises(ImportError, match=r'ONNX export needs the Python package '
                       r'"onnx_not_there".*pip install "detkit\[onnx\]"'):
        import_optional('onnx_not_there', 'onnx', 'ONNX export')


def test_export_onnx_checks_its_arguments(checkpoint, run_tool):
    proc = run_tool('deployment/export_onnx.py', DEMO, checkpoint, '--out', 'model.pt')
    assert proc.returncode == 2 and '--out must end in .onnx, got model.pt' in proc.stderr
    proc = run_tool('deployment/export_onnx.py', DEMO, 'missing.pth', '--out', 'x.onnx')
    assert proc.returncode == 1 and 'checkpoint "missing.pth" does not exist' in proc.stderr
    assert 'Traceback' not in proc.stderr

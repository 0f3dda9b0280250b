"""Fixtures for comparing dense heads with the MMDetection reference files of tests/data."""
import copy
from typing import Callable, Dict, List

import pytest
import torch
from mmengine.structures import InstanceData
from torch import nn

from detkit.registry import MODELS
from detkit.utils.sync_recorder import SyncRecorder


class LossRecorder(nn.Module):
    """Wraps a loss module: every call's arguments and result are kept in ``calls``."""

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss
        self.calls: List[Dict] = []

    def forward(self, *args, **kwargs):
        out = self.loss(*args, **kwargs)
        self.calls.append(dict(args=args, kwargs=kwargs, out=out))
        return out


class HeadCase:
    """One reference file of a head: its config, weights, inputs and outputs, and the
    comparisons every head's test makes with the README's tolerances.

    Args:
        name: the file's name, e.g. ``'atss_head'``.
        ref: ``dict(meta, inputs, outputs)`` as stored (``meta.head_cfg`` builds the head).
        dense: expands the file's sparse tensors.
        outputs: names of the head's outputs, e.g. ``['cls_scores', 'bbox_preds']``.
    """

    def __init__(self, name: str, ref: dict, dense: Callable, outputs: List[str]) -> None:
        self.name, self.ref, self.dense, self.names = name, ref, dense, outputs
        self.inputs, self.outputs = ref['inputs'], ref['outputs']
        self.gts = [InstanceData(bboxes=b, labels=l) for b, l in
                    zip(self.inputs['gt_bboxes'], self.inputs['gt_labels'])]
        self.metas = [{k: tuple(v) for k, v in m.items()} for m in self.inputs['img_metas']]

    def build(self, **changes) -> nn.Module:
        """The head of the file with its stored weights; ``changes`` update its config."""
        cfg = copy.deepcopy(self.ref['meta']['head_cfg'])
        cfg.update(changes)
        head = MODELS.build(cfg)
        head.load_state_dict(self.inputs['state_dict'], strict=True)
        return head

    def head_outputs(self, requires_grad: bool = False) -> List[List[torch.Tensor]]:
        """Copies of the stored head outputs, one list of levels per output."""
        return [[t.clone().requires_grad_(requires_grad) for t in self.outputs[name]]
                for name in self.names]

    def synthetic_outputs(self) -> List[List[torch.Tensor]]:
        """The synthetic head outputs of detections (b), one list of levels per output."""
        return [[self.dense(t) if isinstance(t, dict) else t.float()
                 for t in self.inputs[f'b_{name}']] for name in self.names]

    def assert_forward(self, head: nn.Module) -> None:
        outs = head([f.float() for f in self.inputs['feats']])
        for name, ours in zip(self.names, outs, strict=True):
            for level, theirs in zip(ours, self.outputs[name], strict=True):
                torch.testing.assert_close(level, theirs, rtol=1e-4, atol=1e-5)

    def assert_losses(self, head: nn.Module, level_sizes: List[int],
                      after: Dict[str, float]) -> None:
        """Each loss in total and per level (``losses[name][l]`` of the file).

        A loss module called once per level (the classification loss) gives its
        parts directly; one called once for all levels is called again on each
        level's rows of the same arguments, then multiplied by ``after[name]``
        (what the head applies after the module, e.g. 1 / bbox_avg_factor).
        """
        recorders = {name: LossRecorder(getattr(head, name)) for name in after}
        for name, recorder in recorders.items():
            setattr(head, name, recorder)
        losses = head.loss_by_feat(*self.head_outputs(), self.gts, self.metas)
        assert set(losses) == set(after)
        num_imgs = len(self.gts)
        for name, recorder in recorders.items():
            torch.testing.assert_close(losses[name], self.outputs['loss_total'][name],
                                       rtol=1e-5, atol=1e-6)
            theirs = self.outputs['losses'][name]
            if len(recorder.calls) == len(level_sizes):
                parts = [call['out'] * after[name] for call in recorder.calls]
            else:
                (call,) = recorder.calls
                rows = [[level.reshape(-1, *a.shape[1:]) for level in
                         a.reshape(num_imgs, sum(level_sizes), -1).split(level_sizes, 1)]
                        for a in call['args']]
                parts = [recorder.loss(*args, **call['kwargs']) * after[name]
                         for args in zip(*rows)]
            for ours, ref in zip(parts, theirs, strict=True):
                torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)

    def assert_gradients(self, head: nn.Module) -> None:
        """Gradients of the sum of all losses w.r.t. the stored head outputs."""
        inputs = self.head_outputs(requires_grad=True)
        sum(head.loss_by_feat(*inputs, self.gts, self.metas).values()).backward()
        for name, ours in zip(self.names, inputs):
            for level, theirs in zip(ours, self.outputs[f'grad_{name}'], strict=True):
                expected = self.dense(theirs) if isinstance(theirs, dict) else theirs
                torch.testing.assert_close(level.grad, expected, rtol=1e-4, atol=1e-8)

    def assert_detections(self, preds: List[InstanceData], which: str) -> None:
        """``preds`` equal detections ``pred_<which>``: counts, labels and order exactly."""
        theirs = self.outputs[f'pred_{which}']
        assert [len(p) for p in preds] == [len(t['labels']) for t in theirs]
        for ours, ref in zip(preds, theirs):
            assert torch.equal(ours.labels, ref['labels'].long())
            torch.testing.assert_close(ours.bboxes, ref['bboxes'], rtol=0, atol=1e-3)
            torch.testing.assert_close(ours.scores, ref['scores'], rtol=0, atol=1e-5)

    def assert_loss_path_sync_free(self, head: nn.Module) -> None:
        """Loss and backward read no value back to the host (the recorder is checked too)."""
        inputs = self.head_outputs(requires_grad=True)
        with SyncRecorder() as syncs:
            sum(head.loss_by_feat(*inputs, self.gts, self.metas).values()).backward()
        assert syncs.events == [], syncs.summary()

    def assert_no_gts_gives_only_a_classification_loss(self, head: nn.Module) -> None:
        """Without gts: every box-side loss and its gradient is 0, the class loss is not."""
        empty = [InstanceData(bboxes=torch.zeros(0, 4),
                              labels=torch.zeros(0, dtype=torch.long))] * len(self.gts)
        inputs = self.head_outputs(requires_grad=True)
        losses = head.loss_by_feat(*inputs, empty, self.metas)
        assert {k: v.item() for k, v in losses.items() if k != 'loss_cls'} == dict.fromkeys(
            set(losses) - {'loss_cls'}, 0.0)
        assert 0 < losses['loss_cls'].item() < 100
        sum(losses.values()).backward()
        assert all(t.grad.isfinite().all() for level in inputs for t in level)
        assert all(t.grad.abs().sum() == 0 for level in inputs[1:] for t in level)


@pytest.fixture(scope='session')
def head_case(load_ref, dense):
    """``head_case('atss_head', ['cls_scores', ...])`` → the :class:`HeadCase` of
    ``tests/data/atss_head.pt``."""
    return lambda name, outputs: HeadCase(name, load_ref(name), dense, outputs)


@pytest.fixture(scope='session')
def per_level():
    """Split ``[B, N, ...]`` (levels concatenated along ``N``) into the reference
    files' per-level layout: per level ``[B * N_l, ...]``, image-major."""

    def split(values: torch.Tensor, level_sizes: List[int]) -> List[torch.Tensor]:
        return [v.flatten(0, 1) for v in values.split(level_sizes, dim=1)]

    return split

"""Heads and their inputs rebuilt from a reference file's ``meta`` and ``inputs``."""
import copy

from mmengine.structures import InstanceData

from detkit.registry import MODELS


def build_head(ref, **changes):
    """The reference's head config (with ``changes``), loaded with its stored weights."""
    cfg = copy.deepcopy(ref['meta']['head_cfg'])
    cfg.update(changes)
    head = MODELS.build(cfg)
    head.load_state_dict(ref['inputs']['state_dict'])
    return head


def gts(ref):
    return [InstanceData(bboxes=b, labels=l) for b, l in
            zip(ref['inputs']['gt_bboxes'], ref['inputs']['gt_labels'])]


def metas(ref):
    return [{k: tuple(v) for k, v in m.items()} for m in ref['inputs']['img_metas']]

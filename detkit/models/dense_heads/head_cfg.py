"""The ``train_cfg`` / ``test_cfg`` dicts of dense heads, checked and with their defaults.

MMDetection's configs hand heads plain dicts; here each becomes a frozen
dataclass whose fields are the keys a head accepts, with the defaults of
MMDetection's configs in one place. A key no field takes is an error that
lists the accepted keys, so a typo cannot be silently ignored.
"""
import difflib
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Mapping, Optional, Type, TypeVar

_Cfg = TypeVar('_Cfg')


def _from_mapping(cls: Type[_Cfg], cfg: Optional[Mapping[str, Any]], owner: str,
                  where: str) -> _Cfg:
    names = [f.name for f in fields(cls)]
    cfg = dict(cfg or {})
    for key in cfg:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f' Did you mean "{close[0]}"?' if close else ''
            raise ValueError(f'{owner} does not accept the key "{key}" in {where}.{hint} '
                             f'Accepted: {", ".join(names)}')
    return cls(**cfg)


@dataclass(frozen=True)
class DenseTrainCfg:
    """What a dense head reads from ``train_cfg``.

    Attributes:
        assigner: TASK_UTILS config of the prior-to-gt assigner (heads that
            assign on their own, like FCOS, take none).
        sampler: only MMDetection's ``PseudoSampler`` (every prior counts).
        allowed_border: only -1 (priors crossing the image border are kept).
        pos_weight: only -1 (positives weigh 1 in the classification loss).
        debug: only False (accepted because MMDetection's configs carry it).
    """

    assigner: Optional[Dict] = None
    sampler: Dict = field(default_factory=lambda: dict(type='PseudoSampler'))
    allowed_border: int = -1
    pos_weight: float = -1
    debug: bool = False

    @classmethod
    def from_cfg(cls, cfg: Optional[Mapping[str, Any]], owner: str) -> 'DenseTrainCfg':
        """Check ``cfg`` (``train_cfg`` of head ``owner``) and fill in the defaults."""
        parsed = _from_mapping(cls, cfg, owner, 'train_cfg')
        if parsed.sampler.get('type') != 'PseudoSampler':
            raise NotImplementedError(f'{owner} uses every prior (PseudoSampler); sampler '
                                      f'{parsed.sampler.get("type")!r} is not implemented')
        if parsed.allowed_border >= 0:
            raise NotImplementedError('train_cfg.allowed_border >= 0 is not implemented; use -1')
        if parsed.pos_weight > 0:
            raise NotImplementedError('train_cfg.pos_weight > 0 is not implemented; use -1')
        if parsed.debug:
            raise NotImplementedError('train_cfg.debug=True is not implemented; use False')
        return parsed


@dataclass(frozen=True)
class DenseTestCfg:
    """What a dense head reads from ``test_cfg``.

    Attributes:
        nms_pre: candidates kept per level and image before NMS (top-k by
            score); ``<= 0`` keeps all.
        score_thr: classification scores at or below it are dropped (before
            any score factor such as centerness multiplies them).
        nms: ``dict(type='nms', iou_threshold=t)``; a box is dropped when its
            IoU with a kept box of the same class is above ``t``.
        max_per_img: detections kept per image after NMS; ``<= 0`` keeps all.
        min_bbox_size: boxes whose width or height is not above it are
            dropped; ``< 0`` keeps all.
    """

    nms_pre: int = 1000
    score_thr: float = 0.05
    nms: Dict = field(default_factory=lambda: dict(type='nms', iou_threshold=0.5))
    max_per_img: int = 100
    min_bbox_size: float = 0

    @classmethod
    def from_cfg(cls, cfg: Optional[Mapping[str, Any]], owner: str) -> 'DenseTestCfg':
        """Check ``cfg`` (``test_cfg`` of head ``owner``) and fill in the defaults."""
        parsed = _from_mapping(cls, cfg, owner, 'test_cfg')
        nms_keys = set(parsed.nms) - {'type', 'iou_threshold'}
        if parsed.nms.get('type', 'nms') != 'nms' or nms_keys:
            raise NotImplementedError(f"{owner} test_cfg.nms supports dict(type='nms', "
                                      f"iou_threshold=...) only, got {dict(parsed.nms)}")
        if 'iou_threshold' not in parsed.nms:
            raise ValueError(f'{owner} test_cfg.nms needs an iou_threshold, got '
                             f'{dict(parsed.nms)}')
        return parsed

    @property
    def iou_threshold(self) -> float:
        return float(self.nms['iou_threshold'])

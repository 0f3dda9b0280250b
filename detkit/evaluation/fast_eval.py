"""COCO box evaluation with pycocotools' numbers, in a fraction of its time.

Two costs dominate :class:`~detkit.evaluation.CocoMetric` on large result
sets, and both can go without changing a single number:

* ``COCO.loadRes(rows)`` walks the ``[N, 7]`` array row by row, indexing
  numpy scalars, then walks the detections again to add ``area``, ``id``,
  ``iscrowd`` and a polygon. :func:`load_results` builds the same detection
  records from whole-column ``tolist()`` conversions (the polygon, unused by
  box evaluation, is left out).
* ``COCOeval.evaluate()``/``accumulate()`` are Python loops over images ×
  categories × area ranges. The optional ``faster-coco-eval`` package
  (``pip install "detkit[fast_eval]"``, tested with 1.8) implements them in C++;
  :func:`evaluate_bbox` uses it when it is installed (``backend='auto'``)
  and pycocotools otherwise. detkit's tests and ``tools/benchmark.py --mode
  coco-eval`` check that both give the same 12 numbers.
"""
import contextlib
import copy
import gc
import importlib.util
import io
from typing import Iterator, Sequence, Tuple

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

BACKENDS = ('auto', 'pycocotools', 'faster_coco_eval')


def faster_coco_eval_available() -> bool:
    """Whether the optional ``faster-coco-eval`` package can be imported."""
    return importlib.util.find_spec('faster_coco_eval') is not None


def resolve_backend(backend: str) -> str:
    """``'auto'`` → ``'faster_coco_eval'`` if installed, else ``'pycocotools'``."""
    if backend not in BACKENDS:
        raise ValueError(f'COCO evaluation backend must be one of {BACKENDS}, got {backend!r}')
    if backend == 'auto':
        return 'faster_coco_eval' if faster_coco_eval_available() else 'pycocotools'
    if backend == 'faster_coco_eval' and not faster_coco_eval_available():
        raise ImportError("COCO evaluation backend 'faster_coco_eval' needs the optional "
                          "package: pip install faster-coco-eval (or detkit[fast_eval])")
    return backend


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small dicts are made.

    They hold no reference cycles, but each allocation batch would trigger a
    collection that walks all of them again (3-7× slower at 500k detections).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_results(coco_gt: COCO, rows: np.ndarray) -> COCO:
    """``coco_gt.loadRes(rows)`` for box results, without per-row Python indexing.

    Args:
        coco_gt: the ground truth.
        rows: ``[N, 7]`` float64 ``(image_id, x, y, w, h, score, category_id)``.

    Returns:
        a pycocotools ``COCO`` whose detections carry the same ``image_id``,
        ``bbox``, ``score``, ``category_id``, ``area`` (``w * h``), ``id``
        (1-based row number) and ``iscrowd`` (0) as ``loadRes`` gives them.
    """
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
    img_ids = rows[:, 0].astype(np.int64)
    unknown = np.setdiff1d(img_ids, np.asarray(coco_gt.getImgIds(), dtype=np.int64))
    if unknown.size:
        raise ValueError(f'{unknown.size} result image ids are not in the ground truth, '
                         f'e.g. {unknown[:5].tolist()}')
    with _gc_paused():
        anns = [dict(image_id=i, bbox=b, score=s, category_id=c, area=a, id=k, iscrowd=0)
                for k, (i, b, s, c, a) in enumerate(zip(
                    img_ids.tolist(), rows[:, 1:5].tolist(), rows[:, 5].tolist(),
                    rows[:, 6].astype(np.int64).tolist(), (rows[:, 3] * rows[:, 4]).tolist()),
                    start=1)]
        res = COCO()
        res.dataset = dict(info=copy.deepcopy(coco_gt.dataset.get('info', {})),
                           images=list(coco_gt.dataset['images']),
                           categories=copy.deepcopy(coco_gt.dataset['categories']),
                           annotations=anns)
        with contextlib.redirect_stdout(io.StringIO()):
            res.createIndex()
    return res


def evaluate_bbox(coco_gt: COCO, rows: np.ndarray, cat_ids: Sequence[int],
                  img_ids: Sequence[int], max_dets: Sequence[int] = (100, 300, 1000),
                  backend: str = 'auto') -> Tuple[np.ndarray, object, str]:
    """COCO box AP/AR of result rows, as ``COCOeval(...).summarize()`` gives them.

    Args:
        coco_gt: the ground truth (a pycocotools ``COCO``).
        rows: ``[N, 7]`` ``(image_id, x, y, w, h, score, category_id)``, N > 0.
        cat_ids, img_ids: ``params.catIds`` and ``params.imgIds``.
        max_dets: ``params.maxDets`` (three numbers).
        backend: ``'auto'``, ``'pycocotools'`` or ``'faster_coco_eval'``.

    Returns:
        ``(stats [12], evaluator, summary)``: the 12 numbers in ``COCOeval.stats``
        order, the evaluator (its ``eval['precision']`` has pycocotools' layout)
        and the printed summary.
    """
    coco_dt = load_results(coco_gt, rows)
    output = io.StringIO()
    with contextlib.redirect_stdout(output), _gc_paused():
        if resolve_backend(backend) == 'faster_coco_eval':
            from faster_coco_eval import COCOeval_faster
            evaluator = COCOeval_faster(coco_gt, coco_dt, 'bbox', print_function=print)
        else:
            evaluator = COCOeval(coco_gt, coco_dt, 'bbox')
        evaluator.params.catIds = [int(c) for c in cat_ids]
        evaluator.params.imgIds = [int(i) for i in img_ids]
        evaluator.params.maxDets = [int(m) for m in max_dets]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return np.asarray(evaluator.stats[:12], dtype=np.float64), evaluator, output.getvalue()

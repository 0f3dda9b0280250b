"""Interleaved wall-clock timing: both frameworks, round by round, medians."""
import gc
import statistics
import time
from typing import Callable, Dict, List

import torch


CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}


def time_interleaved(fns: Dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                     device: torch.device = torch.device('cpu'),
                     clock: str = 'wall') -> Dict[str, List[float]]:
    """Seconds per call of each function, run in turns so slow spells hit all of them.

    Round ``r`` calls every function once; the order flips every round so
    that none always runs right after another one's allocations. CUDA work
    is synchronised before and after each call.

    Args:
        fns: ``{name: zero-argument callable}``.
        repeats: timed rounds (the median of these is what counts).
        warmup: untimed rounds first (allocator, oneDNN/cuDNN kernel choice, caches).
        clock: ``'wall'`` (elapsed time), or ``'cpu'``: CPU seconds of this
            process, all threads — blind to the time other processes hold
            the cores, so steadier on a shared machine (use it with
            ``--threads 1``: with more, idle OpenMP threads spin and count).

    Returns:
        ``{name: [seconds of round 0, round 1, …]}``.
    """
    if clock == 'cpu' and device.type == 'cuda':
        raise ValueError("clock='cpu' cannot time CUDA work; use clock='wall'")
    now = CLOCKS[clock]
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    sync()
    times: Dict[str, List[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            gc.collect()
            sync()
            start = now()
            fns[name]()
            sync()
            times[name].append(now() - start)
    return times


def median(values: List[float]) -> float:
    return statistics.median(values)


def ratio_of_medians(times: Dict[str, List[float]], num: str, den: str) -> float:
    return median(times[num]) / median(times[den])

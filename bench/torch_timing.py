"""The CPU PyTorch benches' timer: the median wall time in ms of `runs` calls of fn after one warm-up call."""
import statistics
import time


def median_ms(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)

# NumPy's `a @ b` (float32, OpenBLAS), timed like kernel-bench: one warm-up call, then three
# rounds of at least 0.5 s, the fastest counts. Prints one JSON object: the OpenBLAS that
# ran (version, kernel architecture) and the rate of each (size, threads) in GFLOP/s.
# Run by `cargo xtask bench` (xtask/src/bench/numpy.rs) with the sizes and thread counts as
# arguments, e.g. `256:1 2048:1 2048:2`.
import json
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits


def rate(size, threads):
    rng = np.random.default_rng(size)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    with threadpool_limits(threads):
        a @ b
        best = 0.0
        for _ in range(3):
            start, calls = time.perf_counter(), 0
            while True:
                a @ b
                calls += 1
                seconds = time.perf_counter() - start
                if seconds >= 0.5:
                    break
            best = max(best, 2.0 * size**3 * calls / seconds / 1e9)
    return best


blas = [i for i in threadpool_info() if i.get("internal_api") == "openblas"]
rates = {}
for arg in sys.argv[1:]:
    size, threads = (int(x) for x in arg.split(":"))
    rates[arg] = rate(size, threads)
print(json.dumps({
    "numpy": np.__version__,
    "openblas": blas[0].get("version") if blas else None,
    "architecture": blas[0].get("architecture") if blas else None,
    "rates": rates,
}))

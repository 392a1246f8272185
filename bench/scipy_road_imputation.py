"""The ROAD imputation's reference cost: the authors' algorithm (road_evaluation's NoisyLinearImputer, as
pytorch-grad-cam ships it) in numpy / scipy, on the same synthetic image and saliency as bench/road_bench.ts: the
sparse system built with vectorised numpy per neighbour offset, converted to CSC, solved by
scipy.sparse.linalg.spsolve for the 3 channels. Prints one JSON line per (order, fraction) with the median ms.

Run: /usr/bin/python3 bench/scipy_road_imputation.py SIZE RUNS
"""
import json
import os
import sys

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import spsolve

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_timing import median_ms  # noqa: E402

OFFSETS = [(dy, dx, 1 / 6 if dy == 0 or dx == 0 else 1 / 12)
           for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def impute(img, removed):
    """img (C, H, W), removed (H, W) bool: the linearly imputed image (the system built as the authors do)."""
    c, h, w = img.shape
    flat = removed.reshape(-1)
    unknown = np.flatnonzero(flat)
    index = np.full(h * w, -1)
    index[unknown] = np.arange(len(unknown))
    ys, xs = np.divmod(unknown, w)
    rows, cols, vals = [], [], []
    diag = np.zeros(len(unknown))
    rhs = np.zeros((len(unknown), c))
    values = img.reshape(c, -1)
    for dy, dx, wt in OFFSETS:
        yy, xx = ys + dy, xs + dx
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        q = (yy * w + xx)[inside]
        k = np.flatnonzero(inside)
        diag[k] += wt
        gone = flat[q]
        rows.append(k[gone])
        cols.append(index[q[gone]])
        vals.append(np.full(gone.sum(), -wt))
        rhs[k[~gone]] += wt * values[:, q[~gone]].T
    n = len(unknown)
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(diag)
    a = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsc()
    out = img.reshape(c, -1).copy()
    out[:, unknown] = spsolve(a, rhs).T
    return out.reshape(c, h, w)


def main():
    size, runs = int(sys.argv[1]), int(sys.argv[2])
    i = np.arange(size * size * 3)
    img = (np.sin(i * 0.37) + np.cos(i * 0.011)).reshape(size, size, 3).transpose(2, 0, 1).astype(np.float64)
    p = np.arange(size * size)
    y, x = np.divmod(p, size)
    saliency = np.exp(-((y - size * 0.45) ** 2 + (x - size * 0.55) ** 2) / (size * size * 0.06)) + 0.05 * np.sin(p * 1.3)
    order = np.flip(np.argsort(saliency, kind="stable"))
    for mode in ("morf", "lerf"):
        for f in (0.1, 0.5, 0.9):
            count = int(size * size * f)
            removed = np.zeros(size * size, dtype=bool)
            removed[order[:count] if mode == "morf" else order[size * size - count:]] = True
            removed = removed.reshape(size, size)
            ms = median_ms(lambda: impute(img, removed), runs)
            print(json.dumps({"order": mode, "fraction": f, "ms": ms}))


if __name__ == "__main__":
    main()

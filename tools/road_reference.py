"""Independent PyTorch / scipy reference for ROAD (Rong, Leemann, Borisov, Kasneci & Kasneci, "A Consistent and
Efficient Evaluation Strategy for Attribution Methods", ICML 2022), written from the paper's description of noisy
linear imputation and the authors' documented choices (road_evaluation: 8 neighbours weighted 1/6 edge-adjacent
and 1/12 diagonal, out-of-image neighbours dropped, one sparse system solved directly).

For each classifier fixture (tests/fixtures/pytorch/NAME.*) image 0 with its target is explained by the saliency
stored in methods_NAME.safetensors (causal.saliency, an integrated-gradients map at the input). Pixels are ranked
by decreasing saliency, ties higher index first (np.flip of a stable ascending argsort); MoRF at fraction f removes
the first floor(HW f), LeRF the last floor(HW f). The removed pixels are imputed by building the system
    for each removed i:  (sum_j w_ij) x_i - sum_{j removed} w_ij x_j = sum_{j kept} w_ij v_j
(j over i's in-image neighbours) as a scipy.sparse matrix and solving it with scipy.sparse.linalg.spsolve in
float64, per channel, without noise. Writes tests/fixtures/pytorch/road_NAME.safetensors:

  road.fractions      (F,)  0.1 ... 0.9
  road.base           (1,)  softmax probability of the target on the image
  road.morf / road.lerf (F,) the probability with each fraction removed and imputed
  road.imputed.morf / road.imputed.lerf (2, 3, H, W) the imputed images at fractions 0.3 and 0.9

Run:  /usr/bin/python3 tools/road_reference.py [--out DIR]
"""

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # no tools/__pycache__ in the working tree

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.sparse import coo_matrix  # noqa: E402
from scipy.sparse.linalg import spsolve  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402
import saliency_reference as sr  # noqa: E402

FRACTIONS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
KEPT_IMAGES = [0.3, 0.9]
EDGE, DIAGONAL = 1 / 6, 1 / 12
OFFSETS = [(dy, dx, EDGE if dy == 0 or dx == 0 else DIAGONAL)
           for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
NAMES = ["vgg16_w32", "resnet50_w8"]


def impute(img, removed):
    """img (C, H, W) float64, removed (H, W) bool -> the image with the removed pixels linearly imputed."""
    c, h, w = img.shape
    ids = -np.ones((h, w), dtype=np.int64)
    ys, xs = np.nonzero(removed)
    ids[ys, xs] = np.arange(len(ys))
    rows, cols, vals = [], [], []
    rhs = np.zeros((len(ys), c))
    for i, (y, x) in enumerate(zip(ys, xs)):
        total = 0.0
        for dy, dx, wt in OFFSETS:
            yy, xx = y + dy, x + dx
            if not (0 <= yy < h and 0 <= xx < w):
                continue
            total += wt
            if removed[yy, xx]:
                rows.append(i)
                cols.append(ids[yy, xx])
                vals.append(-wt)
            else:
                rhs[i] += wt * img[:, yy, xx]
        rows.append(i)
        cols.append(i)
        vals.append(total)
    a = coo_matrix((vals, (rows, cols)), shape=(len(ys), len(ys))).tocsc()
    out = img.copy()
    for ch in range(c):
        out[ch, ys, xs] = spsolve(a, rhs[:, ch])
    return out


def removed_pixels(order, fraction, mode, shape):
    count = int(len(order) * fraction)
    chosen = order[:count] if mode == "morf" else order[len(order) - count:]
    flags = np.zeros(len(order), dtype=bool)
    flags[chosen] = True
    return flags.reshape(shape)


def run(name, out_dir):
    model, x, mcfg, rcfg, _rarr, _sha = sr.load_fixture(name)
    _meta, methods = mf.read_safetensors(os.path.join(sr.FIXTURE_DIR, f"methods_{name}.safetensors"))
    saliency = np.array(methods["causal.saliency"], dtype=np.float32)
    target = rcfg["targets"][0]
    image = x[0].double().numpy()
    order = np.flip(np.argsort(saliency.reshape(-1), kind="stable")).copy()
    out = {"road.fractions": torch.tensor(FRACTIONS)}
    batch = [x[0]]
    kept = {"morf": [], "lerf": []}
    for mode in ("morf", "lerf"):
        for f in FRACTIONS:
            filled = torch.from_numpy(impute(image, removed_pixels(order, f, mode, saliency.shape))).float()
            batch.append(filled)
            if f in KEPT_IMAGES:
                kept[mode].append(filled)
    with torch.no_grad():
        probs = torch.softmax(model(torch.stack(batch)), 1)[:, target]
    n = len(FRACTIONS)
    out["road.base"] = probs[0:1]
    out["road.morf"] = probs[1:1 + n]
    out["road.lerf"] = probs[1 + n:1 + 2 * n]
    for mode in ("morf", "lerf"):
        out[f"road.imputed.{mode}"] = torch.stack(kept[mode])
    cfg = {"fixture": name, "target": target, "fractions": FRACTIONS, "kept_images": KEPT_IMAGES,
           "order": "decreasing saliency, ties higher index first", "noise": 0, "solver": "scipy spsolve float64",
           "probability": "softmax"}
    path = os.path.join(out_dir, f"road_{name}.safetensors")
    size = mf.save_safetensors(path, {k: v.float().contiguous() for k, v in out.items()},
                               {"config": json.dumps(cfg)})
    print(f"  wrote {os.path.relpath(path, sr.ROOT)}: {size} bytes")
    return size


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=sr.FIXTURE_DIR)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for name in NAMES:
        print(f"{name}:")
        run(name, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

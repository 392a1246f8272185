"""Independent PyTorch reference for the methods beyond the paper: the CAM variants and the deconvnet.

Reads the fixtures tests/fixtures/pytorch/NAME.weights.safetensors (the model)
and NAME.reference.safetensors (its input and targets), takes x and g at each
fixture layer exactly as tools/saliency_reference.py does (forward hooks on
the module's output, torch.autograd.grad of S = sum(y * G) with the fixture's
seed), and writes tests/fixtures/pytorch/methods_NAME.safetensors with one key
map.<method>.<layer> (N, 1, H, W) per method and layer:

  grad-cam-plus-plus  Chattopadhay et al., Grad-CAM++, WACV 2018, eq. 19:
                      alpha = g^2 / (2 g^2 + sum_u(x) g^3 + 1e-6), 0 where
                      g == 0; w_k = sum_u relu(g) alpha; map = relu(sum_k w_k x_k)
  xgrad-cam           Fu et al., Axiom-based Grad-CAM, BMVC 2020, eq. 11:
                      w_k = sum_u(g x) / (sum_u(x) + 1e-7); relu(sum_k w_k x_k)
  hires-cam           Draelos & Carin 2020: relu(sum_k g_k x_k)
  layer-cam           Jiang et al., LayerCAM, TIP 2021: relu(sum_k relu(g_k) x_k)
  score-cam           Wang et al., Score-CAM, CVPR-W 2020, with pytorch-grad-cam's
                      weights: channel k of x upsampled to the input
                      (bilinear, align_corners=True), min-max normalised
                      (+1e-8) into a mask; w = softmax_k of the target's
                      score on input * mask_k; relu(sum_k w_k x_k)
  ablation-cam        Desai & Ramaswamy, Ablation-CAM, WACV 2020, eq. 4: s_k =
                      the score with channel k of the layer's output set to
                      0 (a forward hook); w_k = (s - s_k) / s; relu(sum_k w_k x_k)
                      (a forward's score: sum(y * G) with the fixture's seed
                      G computed from that forward's own output: the target
                      logit for one-hot seeds)
  integrated-gradients  Sundararajan et al., ICML 2017; at a layer as Captum's
                      LayerIntegratedGradients (the path in the layer's
                      activations, A(x') + a (A(x) - A(x')), put in place by a
                      forward hook): 50 Gauss-Legendre points (numpy leggauss
                      mapped to [0, 1]), baseline 0; map = sum_k (A(x) -
                      A(x'))_k * sum_j w_j dS/dA_k at a_j. Also
                      gap.integrated-gradients.<layer> (N,): sum of the
                      attributions - (S(x) - S(x'))
  rise                Petsiuk et al., BMVC 2018, classifier fixtures only:
                      RISE_MASKS masks from 7x7 Bernoulli(0.5) grids drawn
                      by torch (stored: rise.grids (M,7,7), rise.shifts (M,2)),
                      each upsampled as TorchRay's rise does (reflection pad
                      of one cell, bilinear, align_corners=False, to cell *
                      (7 + 2), sliced from one cell) and cropped at its shift;
                      rise.masks holds the first 4; rise.map (N,1,H,W) =
                      sum_i softmax(y(x * M_i))[t] M_i / (M * 0.5)
  causal.*            RISE's deletion and insertion metrics (the authors'
                      CausalMetric, evaluation.py), classifier fixtures,
                      image 0, its target, softmax probabilities, saliency =
                      that image's integrated-gradients map at the input,
                      one row of pixels a step: causal.saliency (H,W),
                      causal.deletion / causal.insertion (n+1,) curves,
                      causal.kernel (11,11): scipy.ndimage.gaussian_filter of
                      a unit impulse, sigma 5 (scipy is needed here only)
  confidence.change   Grad-CAM++'s Average Drop inputs for image 0 (classifier
                      fixtures): (Y, O) = softmax probability of its target on
                      the image and on the image times causal.saliency
                      min-max normalised to [0, 1]
  occlusion.map       Zeiler & Fergus's occlusion as Captum computes it
                      (classifier fixtures): 5x5 patches of all channels,
                      stride 3, set to 0; per pixel the mean over the patches
                      covering it of logit(x) - logit(x occluded), 0 where
                      none covers it (Captum: 0/0)
  full-grad           Srinivas & Fleuret, NeurIPS 2019, as the authors' code
                      (idiap/fullgrad-saliency): psi(grad_x S * x) summed over
                      channels plus, for every Conv2d with a bias and every
                      BatchNorm2d (bias beta - mean gamma / sqrt(var + eps)),
                      psi(dS/dz * b) bilinearly upsampled (align_corners=True)
                      and summed over channels; psi = abs, min-max per image
                      (+1e-6); key map.full-grad.input
  deconvnet           Zeiler & Fergus, ECCV 2014: every ReLU's backward is
                      relu(grad_out) (the module swapped for an autograd
                      Function, as Captum's Deconvolution hooks do), the same
                      seed G as the standard pass; map = max_k |g|
  eigen-cam           Muhammad & Yeasin, Eigen-CAM, IJCNN 2020: the centred
                      activations A [HW, C] projected on the first right
                      singular vector of torch.linalg.svd (float64), sign
                      flipped so that the largest-magnitude entry of the
                      projection is positive (max p >= -min p); relu

The epsilons and the zeroing where g == 0 are pytorch-grad-cam's documented
defaults (its grad_cam_plusplus.py, xgrad_cam.py; every CAM there ends with a
ReLU). Reductions run in float64 from the float32 x and g. As in
saliency_reference.py, the whole pipeline is rerun in float64 and
f64_rel_diff[key] = max|f32 - f64| / max|f64| is stored as a tolerance hint.

Run:  /usr/bin/python3 tools/methods_reference.py [--out DIR] [--only NAME..]
"""

import argparse
import copy
import json
import os
import sys
import time

sys.dont_write_bytecode = True  # no tools/__pycache__ in the working tree

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402
import saliency_reference as sr  # noqa: E402

import numpy as np  # noqa: E402
import torch.nn.functional as F  # noqa: E402

METHODS = ["grad-cam-plus-plus", "xgrad-cam", "hires-cam", "layer-cam", "eigen-cam", "score-cam", "ablation-cam",
           "deconvnet", "integrated-gradients"]
IG_STEPS = 50
RISE_MASKS = 64


class DeconvReLUFn(torch.autograd.Function):
    """relu forward; backward grad_in = relu(grad_out), whatever the input's sign."""

    @staticmethod
    def forward(ctx, x):
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out.clamp(min=0)


class DeconvReLU(torch.nn.ReLU):
    def forward(self, x):
        return DeconvReLUFn.apply(x)
FORWARD_METHODS = ["score-cam", "ablation-cam"]


def cam_map(method, x, g):
    """(N, 1, H, W) map of one CAM variant from float64 x, g (NCHW)."""
    sum_x = x.sum((2, 3), keepdim=True)
    if method == "grad-cam-plus-plus":
        alpha = g.pow(2) / (2 * g.pow(2) + sum_x * g.pow(3) + 1e-6)
        alpha = torch.where(g != 0, alpha, torch.zeros_like(alpha))
        w = (g.clamp(min=0) * alpha).sum((2, 3), keepdim=True)
        cam = (w * x).sum(1, keepdim=True)
    elif method == "xgrad-cam":
        w = (g * x).sum((2, 3), keepdim=True) / (sum_x + 1e-7)
        cam = (w * x).sum(1, keepdim=True)
    elif method == "hires-cam":
        cam = (g * x).sum(1, keepdim=True)
    elif method == "layer-cam":
        cam = (g.clamp(min=0) * x).sum(1, keepdim=True)
    elif method == "eigen-cam":
        n, c, h, w_ = x.shape
        cams = []
        for b in range(n):
            a = x[b].reshape(c, h * w_).T  # (HW, C)
            a = a - a.mean(0, keepdim=True)
            _, _, vt = torch.linalg.svd(a, full_matrices=False)
            p = a @ vt[0]
            if p.max() < -p.min():
                p = -p
            cams.append(p.reshape(1, h, w_))
        cam = torch.stack(cams)
    else:
        raise ValueError(method)
    return cam.clamp(min=0)


def score(model, inp, t, head, layer=None, ablate=None):
    """Per row of a forward of inp: sum(y * G) with G the seed for target t from that forward's own output.
    ablate: channel index per row, set to 0 in `layer`'s output (a forward hook)."""
    handle = None
    if ablate is not None and layer != "":
        def hook(mod, inp_, out):
            out = out.clone()
            for r, k in enumerate(ablate):
                out[r, k] = 0
            return out
        handle = dict(model.named_modules())[layer].register_forward_hook(hook)
    elif ablate is not None:
        inp = inp.clone()
        for r, k in enumerate(ablate):
            inp[r, k] = 0
    try:
        with torch.no_grad():
            y = model(inp)
    finally:
        if handle:
            handle.remove()
    G = sr.make_seed(y, [t] * y.shape[0], head)
    return (y * G).flatten(1).sum(1)


def forward_weights(method, model, x, layer, a, targets, head, batch=16):
    """Channel weights (N, C, 1, 1) of score-cam / ablation-cam at `layer` with activation a (NCHW)."""
    n, c = a.shape[:2]
    ws = []
    for i, t in enumerate(targets):
        img = x[i:i + 1]
        scores = []
        for start in range(0, c, batch):
            ks = list(range(start, min(c, start + batch)))
            if method == "score-cam":
                up = F.interpolate(a[i:i + 1, ks], size=x.shape[2:], mode="bilinear", align_corners=True)
                lo = up.amin((2, 3), keepdim=True)
                hi = up.amax((2, 3), keepdim=True)
                masks = (up - lo) / (hi - lo + 1e-8)  # (1, b, H, W)
                scores.append(score(model, img * masks.transpose(0, 1), t, head))
            else:
                scores.append(score(model, img.repeat(len(ks), 1, 1, 1), t, head, layer, ks))
        s = sr.d(torch.cat(scores))
        if method == "score-cam":
            w = torch.softmax(s, 0)
        else:
            s0 = sr.d(score(model, img, t, head))
            w = (s0 - s) / s0
        ws.append(w)
    return torch.stack(ws)[:, :, None, None]


def hooked(model, layer, inp, fn):
    """Forward of inp with `layer`'s output replaced by fn(output) ("" replaces the input); returns (y, value)."""
    box = {}
    if layer == "":
        v = fn(inp)
        box["v"] = v
        return model(v), v

    def hook(mod, i, out):
        box["v"] = fn(out)
        return box["v"]
    h = dict(model.named_modules())[layer].register_forward_hook(hook)
    try:
        y = model(inp)
    finally:
        h.remove()
    return y, box["v"]


def integrated_gradients(model, x, layer, targets, head):
    """(map (N,1,h,w) float64, gap (N,) float64) with 50 Gauss-Legendre points, baseline 0."""
    import numpy as np
    t_nodes, t_weights = np.polynomial.legendre.leggauss(IG_STEPS)
    alphas, ws = (t_nodes + 1) / 2, t_weights / 2
    maps, gaps = [], []
    for i, t in enumerate(targets):
        pair = torch.cat([x[i:i + 1], torch.zeros_like(x[i:i + 1])])
        with torch.no_grad():
            y_ends, ends = hooked(model, layer, pair, lambda v: v)
        ax, ab = ends[0:1].detach(), ends[1:2].detach()
        s_ends = (y_ends * sr.make_seed(y_ends, [t, t], head)).flatten(1).sum(1)
        acc = torch.zeros_like(ax, dtype=torch.float64)
        for a, w in zip(alphas, ws):
            point = (ab + float(a) * (ax - ab)).requires_grad_(True)
            y, v = hooked(model, layer, x[i:i + 1], lambda _v: point)
            S = (y * sr.make_seed(y, [t], head)).sum()
            (g,) = torch.autograd.grad(S, point)
            acc += float(w) * sr.d(g)
        attr = sr.d(ax - ab) * acc
        maps.append(attr.sum(1, keepdim=True))
        gaps.append(attr.sum() - sr.d(s_ends[0] - s_ends[1]))
    return torch.cat(maps), torch.stack(gaps)


def rise_masks(grids, shifts, h, w):
    """(M,1,H,W) masks from binary grids (M,s,s) and shifts (M,2), TorchRay's upsampling."""
    s = grids.shape[1]
    cell = (int(np.ceil(h / s)), int(np.ceil(w / s)))
    padded = F.pad(grids[:, None], (1, 1, 1, 1), mode="reflect")
    up = F.interpolate(padded, (cell[0] * (s + 2), cell[1] * (s + 2)), mode="bilinear", align_corners=False)
    return torch.stack([up[i, :, cell[0] + dy: cell[0] + dy + h, cell[1] + dx: cell[1] + dx + w]
                        for i, (dy, dx) in enumerate(shifts.tolist())])


def rise_reference(model, x, targets):
    gen = torch.Generator().manual_seed(0)
    h, w = x.shape[2:]
    grids = (torch.rand(RISE_MASKS, 7, 7, generator=gen) < 0.5).float()
    cell = (int(np.ceil(h / 7)), int(np.ceil(w / 7)))
    shifts = torch.stack([torch.randint(0, cell[0], (RISE_MASKS,), generator=gen),
                          torch.randint(0, cell[1], (RISE_MASKS,), generator=gen)], 1)
    masks = rise_masks(grids, shifts, h, w)
    maps = []
    for i, t in enumerate(targets):
        with torch.no_grad():
            prob = torch.softmax(model(x[i:i + 1] * masks), 1)[:, t]
        maps.append((sr.d(prob)[:, None, None, None] * sr.d(masks)).sum(0, keepdim=True) / (RISE_MASKS * 0.5))
    return grids, shifts.float(), masks[:4], torch.cat(maps)


def causal_reference(model, x, target, saliency):
    """RISE's CausalMetric for one image (1,3,H,W): deletion and insertion curves, pixel order flip(argsort)."""
    from scipy.ndimage import gaussian_filter
    klen, nsig = 11, 5
    impulse = np.zeros((klen, klen))
    impulse[klen // 2, klen // 2] = 1
    k = gaussian_filter(impulse, nsig)
    kern = torch.zeros(3, 3, klen, klen, dtype=x.dtype)
    for c in range(3):
        kern[c, c] = torch.from_numpy(k.astype("float32")).to(x.dtype)
    h, w = x.shape[2:]
    hw, step = h * w, w
    n = (hw + step - 1) // step
    order = np.flip(np.argsort(saliency.reshape(-1), kind="stable")).copy()
    curves = {}
    for mode in ("deletion", "insertion"):
        blurred = F.conv2d(x, kern, padding=klen // 2)
        start, finish = (x.clone(), torch.zeros_like(x)) if mode == "deletion" else (blurred, x.clone())
        scores = []
        for i in range(n + 1):
            with torch.no_grad():
                scores.append(float(torch.softmax(model(start), 1)[0, target]))
            if i < n:
                coords = order[step * i: step * (i + 1)]
                flat, src = start.reshape(1, 3, hw), finish.reshape(1, 3, hw)
                flat[0, :, coords] = src[0, :, coords]
        curves[mode] = torch.tensor(scores, dtype=torch.float64)
    return torch.from_numpy(k), curves


def occlusion_reference(model, x, targets, window=5, stride=3):
    n, c, h, w = x.shape
    maps = []
    for i, t in enumerate(targets):
        img = x[i:i + 1]
        with torch.no_grad():
            base = sr.d(model(img)[0, t])
            total = torch.zeros(h, w, dtype=torch.float64)
            count = torch.zeros(h, w, dtype=torch.float64)
            for y0 in range(0, h - window + 1, stride):
                for x0 in range(0, w - window + 1, stride):
                    occluded = img.clone()
                    occluded[:, :, y0:y0 + window, x0:x0 + window] = 0
                    drop = base - sr.d(model(occluded)[0, t])
                    total[y0:y0 + window, x0:x0 + window] += drop
                    count[y0:y0 + window, x0:x0 + window] += 1
        maps.append(torch.where(count > 0, total / count.clamp(min=1), torch.zeros_like(total))[None, None])
    return torch.cat(maps)


def full_grad(model, x, G):
    mods = [(n, m) for n, m in model.named_modules()
            if (isinstance(m, torch.nn.Conv2d) and m.bias is not None) or isinstance(m, torch.nn.BatchNorm2d)]
    y, outs, _ = sr.forward_capture(model, x, [n for n, _ in mods])
    grads = torch.autograd.grad((y * G).sum(), [outs[""]] + [outs[n] for n, _ in mods])

    def psi(t):
        t = t.abs()
        t = t - t.flatten(1).min(1)[0][:, None, None, None]
        return t / (t.flatten(1).max(1)[0][:, None, None, None] + 1e-6)
    cam = psi(sr.d(grads[0]) * sr.d(x)).sum(1, keepdim=True)
    for (n, m), g in zip(mods, grads[1:]):
        if isinstance(m, torch.nn.BatchNorm2d):
            b = m.bias - m.running_mean * m.weight / torch.sqrt(m.running_var + m.eps)
        else:
            b = m.bias
        term = psi(sr.d(g) * sr.d(b)[None, :, None, None])
        cam = cam + F.interpolate(term, size=x.shape[2:], mode="bilinear", align_corners=True).sum(1, keepdim=True)
    return cam


def compute(fx, model, x, mcfg, rcfg):
    names = fx["layers"]
    std = sr.backprop(model, x, names, targets=rcfg["targets"], head=mcfg["head"])
    if mcfg["head"] != "fully-conv":
        grids, shifts, first, rmap = rise_reference(model, x, rcfg["targets"])
        out = {"rise.grids": grids, "rise.shifts": shifts, "rise.masks": first, "rise.map": rmap}
        ig0, _ = integrated_gradients(model, x[0:1], "", rcfg["targets"][:1], mcfg["head"])
        saliency = ig0[0, 0].float()
        kernel, curves = causal_reference(model, x[0:1], rcfg["targets"][0], saliency.numpy())
        out.update({"causal.saliency": saliency, "causal.kernel": kernel,
                    "causal.deletion": curves["deletion"], "causal.insertion": curves["insertion"]})
        sal = sr.d(saliency)
        mask = ((sal - sal.min()) / (sal.max() - sal.min())).to(x.dtype)
        with torch.no_grad():
            probs = torch.softmax(model(torch.cat([x[0:1], x[0:1] * mask])), 1)[:, rcfg["targets"][0]]
        out["confidence.change"] = probs
        out["occlusion.map"] = occlusion_reference(model, x, rcfg["targets"])
    else:
        out = {}
    out["map.full-grad.input"] = full_grad(model, x, std["G"])
    deconv = sr.backprop(sr.with_rules(model, {torch.nn.ReLU: DeconvReLU}), x, names, G=std["G"])
    for layer in names:
        xs, gs = sr.d(std["x"][layer]), sr.d(std["g"][layer])
        for m in METHODS:
            if m == "deconvnet":
                cam = sr.d(deconv["g"][layer]).abs().amax(1, keepdim=True)
            elif m == "integrated-gradients":
                cam, gap = integrated_gradients(model, x, layer, rcfg["targets"], mcfg["head"])
                out[f"gap.{m}.{sr.key_layer(layer)}"] = gap
            elif m in FORWARD_METHODS:
                w = forward_weights(m, model, x, layer, std["x"][layer], rcfg["targets"], mcfg["head"])
                cam = (w * xs).sum(1, keepdim=True).clamp(min=0)
            else:
                cam = cam_map(m, xs, gs)
            out[f"map.{m}.{sr.key_layer(layer)}"] = cam
    return out


def run(fx, out_dir):
    t0 = time.time()
    name = fx["name"]
    model, x, mcfg, rcfg, _rarr, sha = sr.load_fixture(name)
    out = {k: v.float() for k, v in compute(fx, model, x, mcfg, rcfg).items()}
    for k, v in out.items():
        assert torch.isfinite(v).all(), k
    ref64 = compute(fx, copy.deepcopy(model).double(), x.double(), mcfg, rcfg)
    f64_rel = {k: float(f"{sr.rel_err(out[k], ref64[k]):.3g}") for k in out}
    worst = sorted(f64_rel.items(), key=lambda kv: -kv[1])[:3]
    print("  float32 vs float64 worst keys: " + ", ".join(f"{k} {v:.2e}" for k, v in worst))
    cfg = {
        "fixture": name,
        "model": mcfg,
        "source_sha256": sha,
        "input_shape": list(x.shape),
        "targets": rcfg["targets"],
        "seed_kind": "pointing-softmax" if mcfg["head"] == "fully-conv" else "one-hot",
        "layers": fx["layers"],
        "methods": METHODS,
        "eigen_cam_sign": "projection's largest-magnitude entry positive (max p >= -min p)",
        "epsilons": {"grad-cam-plus-plus": 1e-6, "xgrad-cam": 1e-7},
        "integrated_gradients": {"steps": IG_STEPS, "quadrature": "gauss-legendre", "baseline": "zeros"},
        "reduction_dtype": "float64 from float32 x, g; stored float32",
        "maps": "raw, at the probed tensor's resolution, NCHW (N,1,H,W), after the ReLU",
        "f64_rel_diff": f64_rel,
    }
    path = os.path.join(out_dir, f"methods_{name}.safetensors")
    size = mf.save_safetensors(path, out, {"config": json.dumps(cfg)})
    print(f"  wrote {os.path.relpath(path, sr.ROOT)}: {len(out)} tensors, {size} bytes, "
          f"{time.time() - t0:.1f} s")
    return size


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=sr.FIXTURE_DIR)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args(argv)
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    total = 0
    for fx in sr.FIXTURES:
        if args.only and fx["name"] not in args.only:
            continue
        print(f"{fx['name']}:")
        total += run(fx, args.out)
    print(f"total {total} bytes ({total / 2**20:.2f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

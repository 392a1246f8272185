#!/usr/bin/python3
"""Train retrace's default multi-label classifiers on the synthetic world (issue 4), offline, on CPU.

  /usr/bin/python3 tools/train_classifier.py --arch resnet50 --width 0.125 --minutes 60 \
      --data data/synthetic --out models/resnet50_synthetic

Reads the VOC layout written by `deno task data` (VOCdevkit/VOC2007: ImageSets/Main/{train,val,test}.txt,
Annotations/*.xml, JPEGImages/*.jpg). Every image is decoded (PIL), converted to float in [0, 1] and resized
to 224x224 with bilinear interpolation, align_corners=False, NO antialiasing (torch F.interpolate) — exactly
what tf.image.resizeBilinear(x, [224, 224], false, true) does, so the TypeScript side reproduces the inputs —
then normalised with ImageNet's mean and std. Multi-label targets: one bit per class present (difficult objects
included). Loss: BCE with logits. Optimiser: Adam with a cosine learning-rate schedule over the time budget
(--minutes); the best epoch on val mAP is kept. mAP = mean over classes of non-interpolated average precision
(mean of precision at the rank of each positive, as sklearn's average_precision_score).

Writes into --out:
  weights.safetensors        torchvision state_dict names, F16 (F32 with --f32)
  manifest.json              classes, input size, normalisation, head, probe layers, training data, metrics
  test_slice.safetensors     logits (F32) of the first --slice test images, for the TypeScript fidelity test
  checkpoints/epoch_XX.safetensors (with --checkpoints K: K checkpoints spread over training, F16)
"""
import argparse
import hashlib
import json
import math
import os
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import save_safetensors  # noqa: E402
from torch_nets import BasicBlock, Bottleneck, build  # noqa: E402

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
PROBES = {
    "vgg16": ["", "features.3", "features.8", "features.15", "features.22", "features.29"],
    "resnet50": ["", "layer1", "layer2", "layer3", "layer4"],
}


def voc_root(data):
    return os.path.join(data, "VOCdevkit", "VOC2007")


def read_split(data, split, classes):
    root = voc_root(data)
    with open(os.path.join(root, "ImageSets", "Main", f"{split}.txt")) as f:
        ids = [line.strip() for line in f if line.strip()]
    labels = np.zeros((len(ids), len(classes)), dtype=np.float32)
    for i, image_id in enumerate(ids):
        tree = ET.parse(os.path.join(root, "Annotations", f"{image_id}.xml"))
        for obj in tree.getroot().findall("object"):
            labels[i, classes.index(obj.find("name").text)] = 1
    return ids, labels


def load_images(data, ids, size, cache):
    """uint8 [N, 3, size, size], cached as .npy next to the data (keyed by split contents)."""
    key = hashlib.sha256(("\n".join(ids) + f"@{size}").encode()).hexdigest()[:16]
    path = os.path.join(cache, f"images_{key}.npy")
    if os.path.exists(path):
        return np.load(path)
    out = np.empty((len(ids), 3, size, size), dtype=np.uint8)
    for i, image_id in enumerate(ids):
        img = Image.open(os.path.join(voc_root(data), "JPEGImages", f"{image_id}.jpg")).convert("RGB")
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
        out[i] = np.clip(np.rint(x[0].numpy() * 255.0), 0, 255).astype(np.uint8)
    return save_cache(path, out)


def save_cache(path, array):
    """Writes a cache .npy atomically (a temporary file renamed into place), so a concurrent or killed run never
    leaves a half-written cache; returns the array."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp.npy"
    np.save(tmp, array)
    os.replace(tmp, path)
    return array


def load_images_float(data, ids, size):
    """float [N, 3, size, size] in [0, 1], resized in float (the exact path the TypeScript side takes)."""
    out = []
    for image_id in ids:
        img = Image.open(os.path.join(voc_root(data), "JPEGImages", f"{image_id}.jpg")).convert("RGB")
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        out.append(F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False))
    return torch.cat(out)


def init_weights(model, head_init="torchvision"):
    """torchvision's initialisation (VGG has no batch norm: PyTorch's default init trains it poorly from scratch).
    head_init="default" keeps PyTorch's own Linear init (uniform, fan-in scaled) instead of torchvision's N(0, 0.01):
    three Linear layers of width-reduced fan-in at std 0.01 shrink the head's output (and every gradient into the
    features) by ~1e-3, which kept the VGG at chance for its first 7 epochs."""
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
        elif isinstance(m, torch.nn.Linear) and head_init == "torchvision":
            torch.nn.init.normal_(m.weight, 0, 0.01)
            torch.nn.init.zeros_(m.bias)
        elif isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(m.weight)
            torch.nn.init.zeros_(m.bias)
    # Zero-init the last BN of every residual branch (torchvision's zero_init_residual): each block starts as
    # the identity, which makes deep thin ResNets leave the chance plateau much sooner.
    for m in model.modules():
        if isinstance(m, Bottleneck):
            torch.nn.init.zeros_(m.bn3.weight)
        elif isinstance(m, BasicBlock):
            torch.nn.init.zeros_(m.bn2.weight)


def normalise(x):
    mean = x.new_tensor(MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def average_precision(scores, labels):
    order = np.argsort(-scores, kind="stable")
    hits = labels[order] > 0
    if hits.sum() == 0:
        return float("nan")
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision_at[hits].mean())


def mean_ap(scores, labels):
    aps = [average_precision(scores[:, k], labels[:, k]) for k in range(labels.shape[1])]
    return float(np.nanmean(aps)), aps


@torch.no_grad()
def predict(model, images_u8, batch=64):
    model.eval()
    out = []
    for i in range(0, len(images_u8), batch):
        x = normalise(torch.from_numpy(images_u8[i:i + batch]).float() / 255.0)
        out.append(model(x))
    return torch.cat(out).numpy()


class BatchNormVGG(torch.nn.Module):
    """A plain torchvision-named VGG trained with a BatchNorm2d after every conv (the plain VGG16 does not leave
    chance from scratch in this budget). fold() writes each eval-mode BN (a per-channel affine map) into the conv
    before it and returns the plain VGG, which then computes exactly what the BN network computed."""

    def __init__(self, plain):
        super().__init__()
        self.plain = plain
        convs = [m for m in plain.features if isinstance(m, torch.nn.Conv2d)]
        self.bns = torch.nn.ModuleList([torch.nn.BatchNorm2d(c.out_channels) for c in convs])

    def forward(self, x):
        i = 0
        for m in self.plain.features:
            x = m(x)
            if isinstance(m, torch.nn.Conv2d):
                x = self.bns[i](x)
                i += 1
        x = self.plain.avgpool(x)
        return self.plain.classifier(torch.flatten(x, 1))

    @torch.no_grad()
    def fold(self):
        convs = [m for m in self.plain.features if isinstance(m, torch.nn.Conv2d)]
        for conv, bn in zip(convs, self.bns):
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            conv.weight.mul_(scale[:, None, None, None])
            conv.bias.copy_((conv.bias - bn.running_mean) * scale + bn.bias)
        return self.plain


def learning_rate(peak, progress, warmup):
    """Linear warm-up over the first `warmup` of the budget, then cosine decay to zero."""
    progress = min(1.0, progress)
    if progress < warmup:
        return peak * progress / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (progress - warmup) / (1 - warmup)))


def dihedral_map(t, k):
    """Dihedral map k = 0..7 of t's last two dimensions (rows, columns): rot90 k % 4 times, then a horizontal
    flip if k >= 4. The one definition the classifier and captioner trainers (and the captioner's relation-word
    table) share."""
    t = torch.rot90(t, k % 4, dims=(-2, -1))
    return t.flip(-1) if k >= 4 else t


def dihedral(x):
    """Each image gets one of the 8 flips/quarter-turns: shapes are drawn at uniform random rotations, so every
    class label survives them (captions' left/right words would not; this is for the classifiers only)."""
    out = torch.empty_like(x)
    ks = torch.randint(0, 8, (len(x),))
    for k in range(8):
        idx = (ks == k).nonzero().flatten()
        if len(idx):
            out[idx] = dihedral_map(x[idx], k)
    return out


def parse_stages(text, size):
    """"128:0.5,160:0.8" -> [(128, 0.5), (160, 0.8), (size, 1.0)]: each input size until that fraction of the budget."""
    stages = []
    for part in filter(None, text.split(",")):
        s, until = part.split(":")
        stages.append((int(s), float(until)))
    if any(b[1] <= a[1] for a, b in zip(stages, stages[1:])) or any(not 0 < u < 1 for _, u in stages):
        raise SystemExit(f"--stages {text!r}: fractions must rise strictly inside (0, 1)")
    return stages + [(size, 1.0)]


def stage_size(stages, progress):
    return next(s for s, until in stages if progress < until or until == 1.0)


def val_due(stages, progress, epoch, every):
    """Whether an epoch ending at `progress` of the budget is scored on val: always at the last stage's (full)
    size and at the end, otherwise every `every`th epoch."""
    return progress >= 1 or stage_size(stages, progress) == stages[-1][0] or epoch % every == 0


def state_for_export(model, f16):
    state = {}
    for k, v in model.state_dict().items():
        v = v.contiguous()  # channels_last weights are strided
        state[k] = v.half() if (f16 and v.is_floating_point()) else v
    return state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True, choices=["vgg16", "resnet50"])
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--data", default="data/synthetic")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--slice", type=int, default=200)
    ap.add_argument("--checkpoints", type=int, default=0)
    ap.add_argument("--f32", action="store_true")
    ap.add_argument("--warmup", type=float, default=0.03, help="fraction of the budget with a linear LR warm-up")
    ap.add_argument("--wd", type=float, default=1e-4, help="AdamW weight decay")
    ap.add_argument("--no-channels-last", action="store_true")
    ap.add_argument("--bn-fold", action="store_true", help="VGG: train with batch norm, fold it into the convs")
    ap.add_argument("--head", default="classifier", choices=["classifier", "gap"],
                    help='"gap" (VGG): the classifier after a global average pool')
    ap.add_argument("--train-size", type=int, default=0,
                    help="train at this input size (0 = --size) until --full-size-after of the budget, then at --size")
    ap.add_argument("--full-size-after", type=float, default=0.8)
    ap.add_argument("--stages", default="",
                    help='input sizes before --size, e.g. "128:0.5,160:0.8" (replaces --train-size/--full-size-after)')
    ap.add_argument("--head-init", default="torchvision", choices=["torchvision", "default"])
    ap.add_argument("--dropout", type=float, default=0.5, help="VGG classifier dropout while training")
    ap.add_argument("--val-every", type=int, default=1,
                    help="score val every N epochs while training below --size (always at --size)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    t0 = time.time()

    with open(os.path.join(args.data, "manifest.json")) as f:
        world = json.load(f)
    classes = world["classes"]
    cache = os.path.join(args.data, ".cache")
    splits = {}
    for split in ("train", "val", "test"):
        ids, labels = read_split(args.data, split, classes)
        splits[split] = (ids, labels, load_images(args.data, ids, args.size, cache))
        print(f"{split}: {len(ids)} images ({time.time() - t0:.0f}s)", flush=True)

    model = build(args.arch, args.width, len(classes), args.head, args.dropout)
    init_weights(model, args.head_init)
    if args.train_size and args.train_size != args.size and not args.stages:
        stages = [(args.train_size, args.full_size_after), (args.size, 1.0)]
    else:
        stages = parse_stages(args.stages, args.size)
    if args.bn_fold:
        if not args.arch.startswith("vgg"):
            raise SystemExit("--bn-fold is for VGG (ResNets have their own batch norms)")
        model = BatchNormVGG(model)
    channels_last = not args.no_channels_last
    if channels_last:  # 1.3x (ResNet50) to 3.6x (VGG16) faster on CPU at width 1/8
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.wd)
    train_ids, train_y, train_x = splits["train"]
    budget = args.minutes * 60
    start = time.time()
    best = (-1.0, None, 0)
    saved_checkpoints = []
    epoch = 0
    log = []
    while time.time() - start < budget:
        epoch += 1
        model.train()
        perm = np.random.permutation(len(train_ids))
        total, seen = 0.0, 0
        for i in range(0, len(perm), args.batch):
            elapsed = time.time() - start
            if elapsed >= budget:
                break
            for g in opt.param_groups:
                g["lr"] = learning_rate(args.lr, elapsed / budget, args.warmup)
            idx = perm[i:i + args.batch]
            x = dihedral(torch.from_numpy(train_x[idx]).float() / 255.0)
            size = stage_size(stages, elapsed / budget)
            if size != args.size:
                # smaller inputs early on (cheaper steps; the "gap" head takes any size), the full size at the end
                x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = torch.from_numpy(train_y[idx])
            loss = F.binary_cross_entropy_with_logits(model(normalise(x)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
            seen += len(idx)
        elapsed = time.time() - start
        checkpoint_due = args.checkpoints and math.ceil(args.checkpoints * min(1.0, elapsed / budget)) > len(
            saved_checkpoints)
        if not (val_due(stages, elapsed / budget, epoch, args.val_every) or checkpoint_due):  # checkpoints record val
            log.append({"epoch": epoch, "loss": total / max(seen, 1), "size": size, "minutes": elapsed / 60})
            print(json.dumps(log[-1]), flush=True)
            continue
        val_map, _ = mean_ap(predict(model, splits["val"][2]), splits["val"][1])
        elapsed = time.time() - start
        log.append({"epoch": epoch, "loss": total / max(seen, 1), "size": size, "val_map": val_map,
                    "minutes": elapsed / 60})
        print(json.dumps(log[-1]), flush=True)
        if val_map > best[0]:
            best = (val_map, {k: v.clone() for k, v in model.state_dict().items()}, epoch)
        if args.checkpoints:
            due = math.ceil(args.checkpoints * min(1.0, elapsed / budget))
            if due > len(saved_checkpoints):
                os.makedirs(os.path.join(args.out, "checkpoints"), exist_ok=True)
                path = os.path.join(args.out, "checkpoints", f"epoch_{epoch:02d}.safetensors")
                save_safetensors(path, state_for_export(model, True), {"epoch": str(epoch), "val_map": str(val_map)},
                                 writer="builtin")
                saved_checkpoints.append({"epoch": epoch, "val_map": val_map, "file": os.path.relpath(path, args.out)})
    train_minutes = (time.time() - start) / 60
    model.load_state_dict(best[1])
    if args.bn_fold:
        model.eval()
        check = torch.from_numpy(splits["val"][2][:16]).float() / 255.0
        with torch.no_grad():
            before = model(normalise(check))
            model = model.fold()
            after = model(normalise(check))
        print(f"batch norm folded: max logit change {float((before - after).abs().max()):.2e}", flush=True)
    test_ids, test_y, test_x = splits["test"]
    test_map, test_aps = mean_ap(predict(model, test_x), test_y)
    print(f"best epoch {best[2]}: val mAP {best[0]:.4f}, test mAP {test_map:.4f}", flush=True)

    os.makedirs(args.out, exist_ok=True)
    f16 = not args.f32
    export = state_for_export(model, f16)
    if f16:  # the slice logits must come from the weights as shipped
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in export.items()})
    model.eval()
    with torch.no_grad():
        slice_ids = test_ids[:args.slice]
        logits = model(normalise(load_images_float(args.data, slice_ids, args.size)))
    save_safetensors(os.path.join(args.out, "weights.safetensors"), export,
                     {"arch": args.arch, "width": str(args.width)}, writer="builtin")
    save_safetensors(os.path.join(args.out, "test_slice.safetensors"), {"logits": logits.float()},
                     {"ids": json.dumps(slice_ids)}, writer="builtin")
    slice_map, _ = mean_ap(logits.numpy(), test_y[:args.slice])
    manifest = {
        "name": os.path.basename(os.path.normpath(args.out)),
        "arch": args.arch,
        "width": args.width,
        "numClasses": len(classes),
        "classes": classes,
        "head": args.head,
        "multiLabel": True,
        "inputSize": [args.size, args.size],
        "preprocess": {"resize": "bilinear, align_corners=false, no antialias, to inputSize", "scale": 1 / 255,
                       "mean": MEAN, "std": STD},
        "probeLayers": PROBES[args.arch],
        "weights": {"file": "weights.safetensors", "dtype": "F16" if f16 else "F32"},
        "training": {"optimizer": "AdamW", "weight_decay": args.wd, "warmup": args.warmup,
                     "augmentation": "dihedral (8 flips / quarter-turns)", "channels_last": channels_last,
                     "batch_norm_folded": args.bn_fold,
                     "stages": [{"size": s, "until": u} for s, u in stages],
                     "head_init": args.head_init, "dropout": args.dropout if args.arch.startswith("vgg") else None,
                     "data": args.data, "world_seed": world.get("seed"), "train": len(train_ids),
                     "val": len(splits["val"][0]), "test": len(test_ids), "epochs": epoch, "best_epoch": best[2],
                     "minutes": round(train_minutes, 1), "threads": args.threads, "batch": args.batch,
                     "lr": args.lr, "seed": args.seed, "log": log,
                     "command": "/usr/bin/python3 tools/train_classifier.py " + " ".join(sys.argv[1:])},
        "metrics": {"val_map": best[0], "test_map": test_map,
                    "test_ap": {c: (None if math.isnan(a) else a) for c, a in zip(classes, test_aps)},
                    "test_slice_map": slice_map, "test_slice_size": len(slice_ids)},
        "checkpoints": saved_checkpoints,
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(json.dumps({"test_map": test_map, "minutes": round(train_minutes, 1)}), flush=True)


if __name__ == "__main__":
    main()

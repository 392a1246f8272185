#!/usr/bin/python3
"""Where does a captioner's backbone keep colour? (issue 4 diagnosis, offline, CPU)

  /usr/bin/python3 tools/probe_colour.py [--model models/captioner_synthetic] [--data data/synthetic]

Takes the one-object images of the synthetic val and test splits (caption "a SIZE COLOUR CLASS"), global-average
pools the normalised input and each stage of the captioner's ResNet backbone (stem, layer1 .. layer4), fits a
linear softmax probe for the object's colour word on every other image and prints its accuracy on the rest
(chance 1/12). The caption decoder sees only a pooling of layer4: colour that does not survive to layer4
cannot be named, whatever the decoder does.

  /usr/bin/python3 tools/probe_colour.py --objects

instead takes the images whose caption names 2+ objects and probes the first and the second object's colour
and class words from layer4 pooled by its mean, its max, their concatenation, and the captioner's own feature.
A linear probe cannot rank objects by area, so this bounds what is linearly readable, not what is there.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from caption_targets import noun_phrases  # noqa: E402
from train_captioner import Captioner, exported_state, read_captions  # noqa: E402
from train_classifier import load_images, normalise, read_split  # noqa: E402

STAGES = ("pixels", "stem", "layer1", "layer2", "layer3", "layer4")


def pooled_stages(backbone, images_u8, batch=50):
    out = {k: [] for k in STAGES}
    with torch.no_grad():
        for i in range(0, len(images_u8), batch):
            x = normalise(torch.from_numpy(images_u8[i:i + batch]).float() / 255)
            out["pixels"].append(x.mean((2, 3)))
            h = backbone.maxpool(backbone.relu(backbone.bn1(backbone.conv1(x))))
            out["stem"].append(h.mean((2, 3)))
            for name in STAGES[2:]:
                h = getattr(backbone, name)(h)
                out[name].append(h.mean((2, 3)))
    return {k: torch.cat(v) for k, v in out.items()}


def layer4_poolings(model, images_u8, batch=50):
    """{mean, max, mean+max, feature}: layer4 pooled several ways, and the captioner's own image feature."""
    out = {"mean": [], "max": [], "feature": []}
    with torch.no_grad():
        for i in range(0, len(images_u8), batch):
            feature, _, h = model.features(normalise(torch.from_numpy(images_u8[i:i + batch]).float() / 255), True)
            out["mean"].append(h.mean((2, 3)))
            out["max"].append(h.amax((2, 3)))
            out["feature"].append(feature)
    out = {k: torch.cat(v) for k, v in out.items()}
    return {**out, "mean+max": torch.cat([out["mean"], out["max"]], 1)}


def probe_objects(model, images_u8, phrases, classes):
    """Probe accuracy of the first and second noun phrase's colour and class, per layer4 pooling."""
    features = layer4_poolings(model, images_u8)
    print(f"{len(phrases)} images with 2+ objects; linear probe fitted on half, scored on the other half")
    for obj in (0, 1):
        for part, name in ((1, "colour"), (2, "class")):
            vocab = sorted({p[obj][part] for p in phrases} | set(classes if part == 2 else []))
            labels = torch.tensor([vocab.index(p[obj][part]) for p in phrases])
            row = ", ".join(f"{k} {probe_accuracy(f, labels, len(vocab)):.3f}" for k, f in features.items())
            print(f"object {obj + 1} {name:6s}: {row}")


def probe_accuracy(features, labels, classes):
    """Linear softmax probe (L2 1e-3, LBFGS) fitted on even rows, accuracy on odd rows."""
    fit = torch.arange(len(labels)) % 2 == 0
    f = (features - features[fit].mean(0)) / (features[fit].std(0) + 1e-6)
    w = torch.zeros(f.shape[1], classes, requires_grad=True)
    b = torch.zeros(classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=300)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(f[fit] @ w + b, labels[fit]) + 1e-3 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((f[~fit] @ w + b).argmax(1) == labels[~fit]).float().mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/captioner_synthetic")
    ap.add_argument("--data", default="data/synthetic")
    ap.add_argument("--objects", action="store_true", help="probe the first two objects of 2+-object images")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    with open(os.path.join(args.model, "manifest.json")) as f:
        m = json.load(f)
    classes, dec = m["classes"], m["decoder"]
    model = Captioner(m["width"], len(classes), len(dec["vocabulary"]), dec["embed"], dec["hidden"],
                      dec.get("pooling", "mean"))
    model.load_state_dict(exported_state(os.path.join(args.model, m["weights"]["file"])))
    model.eval()
    images, words = [], []
    for split in ("val", "test"):
        ids, _ = read_split(args.data, split, classes)
        x = load_images(args.data, ids, m["inputSize"][0], os.path.join(args.data, ".cache"))
        refs = read_captions(args.data, split, ids)
        keep = [i for i, r in enumerate(refs) if (len(noun_phrases(r)) >= 2 if args.objects else len(r) == 4)]
        images.append(x[keep])
        words += [noun_phrases(refs[i]) if args.objects else refs[i][2] for i in keep]
    if args.objects:
        probe_objects(model, np.concatenate(images), words, classes)
        return
    colours = sorted(set(words))
    labels = torch.tensor([colours.index(c) for c in words])
    print(f"{len(labels)} one-object images, {len(colours)} colours (chance {1 / len(colours):.3f}); linear probe "
          "on global-average-pooled features, fitted on half, scored on the other half")
    for stage, features in pooled_stages(model.backbone, np.concatenate(images)).items():
        print(f"{stage:7s} {features.shape[1]:4d} channels: colour accuracy "
              f"{probe_accuracy(features, labels, len(colours)):.3f}")


if __name__ == "__main__":
    main()

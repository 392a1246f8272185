#!/usr/bin/python3
"""Train retrace's default image captioner on the synthetic world's captions (issue 4), offline, on CPU.

  /usr/bin/python3 tools/train_captioner.py --width 0.125 --minutes 55 --data data/synthetic \
      --out models/captioner_synthetic

Model (neuraltalk2 / ShowTell style, METHODS.md §9):
  backbone   torchvision-named ResNet101, width-reduced; its `fc` is a 12-way multi-label classifier trained as an
             auxiliary task (BCE) so the backbone learns the shapes quickly; the caption path does not use it.
  feature    --pooling mean: the mean over (H, W) of layer4 (global average pooling), C values.
             --pooling moments: that mean, then the means of layer4 weighted by the cell's x and by its y
             coordinate (u = 2 (j + 0.5) / W - 1, in (-1, 1); x grows rightwards, y downwards), 3C values: a
             channel's area-weighted centroid, meant to let the decoder tell where things are (left of / above).
  img_embed  Linear(C or 3C, E), fed as the LSTM input at t = 0 (its output is ignored).
  embed      Embedding(V + 1, E); index 0 is both <bos> (input at t = 1) and <eos> (the last target).
  lstm       one nn.LSTM layer, hidden H (PyTorch gate order i, f, g, o; both bias vectors).
  logit      Linear(H, V + 1); log_softmax gives log p(w_t | w_<t, image).
Loss: cross-entropy of every word and the final <eos> under teacher forcing, plus the auxiliary BCE (weight 1),
plus, with --dense-weight w > 0, w times a training-only dense head on layer4 (a 1x1 conv, not exported): each
layer4 cell's share of every (colour, class) pair, of every colour and of every class (soft-target cross-entropy
against the cell's fractions of tools/caption_targets.py's label maps). It makes layer4 say which colour sits on
which shape at each place, which the caption needs and a classifier backbone has no reason to keep.
--dense-balance b weights that loss's cells: 1 each, plus b x (cells) shared equally by the image's objects (each
(colour, class) label present), so a small object weighs as much as a large one. --presence-weight w adds a
training-only linear head on layer4's mean (the part of the decoder's feature the classifier also reads): BCE for
every (colour, class) pair and every colour the caption names, so the pooled feature says what is there, second
and smaller objects included.
Augmentation: the 8 flips / quarter-turns, with the caption's relation word remapped to match (the relation is
decided by the larger axis of the centroid displacement, which these maps permute exactly). Images are the same
uint8 224x224 cache the classifier trainer builds (bilinear, align_corners=False, no antialias).

Writes into --out:
  weights.safetensors    backbone.* (torchvision names), img_embed.*, embed.weight, lstm.*, logit.* (F16 default)
  manifest.json          vocabulary, sizes, preprocessing, probe layers, training run, metrics
  test_slice.safetensors for the first --slice test images: the greedy captions' token ids and per-step
                         log-probabilities, and the pooled feature, from the weights as shipped
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from caption_targets import COLOURS, label_maps, noun_phrases, pair_index  # noqa: E402
from make_fixtures import read_safetensors, save_safetensors  # noqa: E402
from torch_nets import build  # noqa: E402
from train_classifier import (MEAN, STD, dihedral_map, init_weights, learning_rate, load_images,  # noqa: E402
                              load_images_float, mean_ap, normalise, parse_stages, read_split, stage_size,
                              state_for_export, val_due)

PROBES = ["", "layer3.0", "layer4.0", "layer4"]
# The relation word after each of the 8 dihedral maps (k = 0..7: rot90 k % 4 times, then a horizontal flip if
# k >= 4: train_classifier.dihedral_map), derived in relation_table() from where a displacement goes under it.
RELATION_WORDS = {"left": (-1, 0), "right": (1, 0), "above": (0, -1), "below": (0, 1)}


POOLINGS = {"mean": 1, "moments": 3}


def pool(x, pooling):
    """The decoder's image feature of layer4 [N, C, H, W]: see the module doc (--pooling)."""
    mean = x.mean(dim=(2, 3))
    if pooling == "mean":
        return mean
    h, w = x.shape[2], x.shape[3]
    ux = (2 * (torch.arange(w, dtype=x.dtype, device=x.device) + 0.5) / w - 1)
    uy = (2 * (torch.arange(h, dtype=x.dtype, device=x.device) + 0.5) / h - 1)
    return torch.cat([mean, (x * ux).mean(dim=(2, 3)), (x * uy[:, None]).mean(dim=(2, 3))], 1)


class Captioner(nn.Module):
    def __init__(self, width, num_classes, vocab_size, embed, hidden, pooling="mean", dense_outputs=0,
                 presence_outputs=0):
        super().__init__()
        self.backbone = build("resnet101", width, num_classes, "classifier")
        channels = self.backbone.fc.in_features
        self.pooling = pooling
        self.img_embed = nn.Linear(POOLINGS[pooling] * channels, embed)
        self.embed = nn.Embedding(vocab_size + 1, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=1, batch_first=True)
        self.logit = nn.Linear(hidden, vocab_size + 1)
        # Training-only (never exported): per-cell (colour, class) shares, see --dense-weight.
        self.dense = nn.Conv2d(channels, dense_outputs, 1) if dense_outputs else None
        # Training-only (never exported): which (colour, class) pairs and colours the image holds, read from the
        # pooled mean, see --presence-weight.
        self.presence = nn.Linear(channels, presence_outputs) if presence_outputs else None

    def features(self, x, with_map=False):
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        x = b.layer4(b.layer3(b.layer2(b.layer1(x))))
        pooled = pool(x, self.pooling)
        logits = b.fc(pooled[:, :b.fc.in_features])
        return (pooled, logits, x) if with_map else (pooled, logits)

    def teacher_forced(self, pooled, tokens):
        """log-probabilities [N, T + 1, V + 1] of tokens[:, 0..T-1] then <eos>, given the pooled features."""
        n = pooled.shape[0]
        bos = torch.zeros(n, 1, dtype=torch.long, device=pooled.device)
        inputs = torch.cat([self.img_embed(pooled)[:, None], self.embed(torch.cat([bos, tokens], 1))], 1)
        out, _ = self.lstm(inputs)
        return F.log_softmax(self.logit(out[:, 1:]), dim=-1)

    @torch.no_grad()
    def greedy(self, pooled, max_len):
        n = pooled.shape[0]
        _, state = self.lstm(self.img_embed(pooled)[:, None])
        word = torch.zeros(n, dtype=torch.long, device=pooled.device)
        words, logps, done = [], [], torch.zeros(n, dtype=torch.bool, device=pooled.device)
        for _ in range(max_len + 1):
            out, state = self.lstm(self.embed(word)[:, None], state)
            lp = F.log_softmax(self.logit(out[:, 0]), dim=-1)
            word = lp.argmax(-1)
            word = torch.where(done, torch.zeros_like(word), word)
            words.append(word)
            logps.append(lp.gather(1, word[:, None])[:, 0])
            done = done | (word == 0)
            if bool(done.all()):
                break
        return torch.stack(words, 1), torch.stack(logps, 1)


def deepen_from_resnet50(backbone, path):
    """Start the ResNet101 backbone from a trained ResNet50 of the same width: every tensor whose name exists in
    both (stem, layer1, layer2, layer3.0-5, layer4, fc) is copied; layer3.6-22 keep their fresh initialisation,
    whose zero bn3 scale makes each extra block the identity, so the deepened network computes what the ResNet50
    did on the first step (net2net-style deepening)."""
    _, tensors = read_safetensors(path)
    state = backbone.state_dict()
    copied = 0
    for k, v in tensors.items():
        if k in state:
            if tuple(state[k].shape) != tuple(v.shape):
                raise ValueError(f"{k}: shape {tuple(v.shape)} in {path}, {tuple(state[k].shape)} in the backbone")
            state[k] = torch.from_numpy(np.array(v)).to(state[k].dtype)
            copied += 1
    backbone.load_state_dict(state)
    return f"{copied} of {len(state)} tensors copied"


def exported_state(path):
    """An exported captioner's tensors (weights.safetensors, F16 or F32) as a float state_dict."""
    _, tensors = read_safetensors(path)
    return {k: torch.from_numpy(np.array(v)).float() for k, v in tensors.items()}


def relation_table():
    """table[k][word] = the relation word after dihedral map k, read off a probe image transformed by dihedral_map."""
    table = []
    for k in range(8):
        mapped = {}
        for word, (dx, dy) in RELATION_WORDS.items():
            # Put X and Y two pixels apart along d in a 5x5 image, transform it, read where they went.
            img = torch.zeros(1, 5, 5)
            img[0, 2 + dy, 2 + dx] = 1.0  # X
            img[0, 2, 2] = 2.0  # Y
            t = dihedral_map(img, k)
            (xy,), (yy,) = (t[0] == 1).nonzero().tolist(), (t[0] == 2).nonzero().tolist()
            d = (xy[1] - yy[1], xy[0] - yy[0])
            mapped[word] = next(w for w, v in RELATION_WORDS.items() if v == d)
        table.append(mapped)
    return table


PHRASES = {"left": ["left", "of"], "right": ["right", "of"], "above": ["above"], "below": ["below"]}


def transform_caption(words, mapping):
    """Replace the relation phrase ("left of", "right of", "above", "below") by its image under the map."""
    out, i = [], 0
    while i < len(words):
        w = words[i]
        if w in PHRASES:
            out += PHRASES[mapping[w]]
            i += len(PHRASES[w])
        else:
            out.append(w)
            i += 1
    return out


def dihedral_batch(x, captions, table, maps=None):
    """Each image (and its label map [N, G, G], if given) under one random dihedral map; captions remapped."""
    out, caps = torch.empty_like(x), []
    out_maps = None if maps is None else torch.empty_like(maps)
    for j, k in enumerate(torch.randint(0, 8, (len(x),)).tolist()):
        out[j] = dihedral_map(x[j], k)
        if maps is not None:
            out_maps[j] = dihedral_map(maps[j], k)
        caps.append(transform_caption(captions[j], table[k]))
    return out, caps, out_maps


def cell_shares(maps, h, w, labels):
    """[N, labels, h, w]: the share of each of h x w cells (label-map row i falls in cell row i * h // G, likewise
    columns) that each label covers, for label maps [N, G, G]. A histogram per cell (bincount), not a one-hot
    tensor: that cost about a second per batch."""
    n, g = maps.shape[0], maps.shape[1]
    rows, cols = torch.arange(g) * h // g, torch.arange(g) * w // g
    cell = (rows[:, None] * w + cols[None]).reshape(-1).to(maps.device)
    index = (torch.arange(n, device=maps.device)[:, None] * (h * w) + cell) * labels + maps.reshape(n, -1).long()
    counts = torch.bincount(index.reshape(-1), minlength=n * h * w * labels).float().reshape(n, h, w, labels)
    return (counts / torch.bincount(cell, minlength=h * w).float().reshape(1, h, w, 1)).permute(0, 3, 1, 2)


def object_balance(pairs, balance):
    """Per-cell weights [N, h, w] for the dense loss: 1 everywhere, plus `balance` x (cells) spread over the objects
    so each (colour, class) label present in an image gets the same total whatever its area (each of its cells in
    proportion to the share it covers). balance = 0: all ones."""
    n, _, h, w = pairs.shape
    if balance <= 0:
        return torch.ones(n, h, w, device=pairs.device)
    objects = pairs[:, 1:]
    total = objects.sum((2, 3), keepdim=True)  # [N, P - 1, 1, 1]
    present = (total[:, :, 0, 0] > 0).sum(1).clamp(min=1).float()  # [N]
    spread = (objects / total.clamp(min=1e-6)).sum(1)  # [N, h, w]: each present label's shares sum to 1
    return 1 + balance * h * w * spread / present[:, None, None]


def dense_loss(head_out, maps, num_classes, balance=0.0):
    """Soft-target cross-entropy of the dense head [N, P + (K + 1) + (C + 1), h, w] against the label maps
    [N, G, G] (0 = background, 1 + colour * C + class): each cell's target is the share of its area each label
    covers, for the (colour, class) pairs, the colours alone and the classes alone. Cells are weighted by
    object_balance() (a weighted mean per image)."""
    n_pairs = 1 + len(COLOURS) * num_classes
    pairs = cell_shares(maps, head_out.shape[2], head_out.shape[3], n_pairs)  # [N, P, h, w]
    grid = pairs[:, 1:].reshape(len(maps), len(COLOURS), num_classes, *pairs.shape[2:])
    colours = torch.cat([pairs[:, :1], grid.sum(2)], 1)
    classes = torch.cat([pairs[:, :1], grid.sum(1)], 1)
    weight = object_balance(pairs, balance)
    weight = weight / weight.sum((1, 2), keepdim=True)
    loss = 0.0
    for target, logits in zip((pairs, colours, classes),
                              head_out.split([n_pairs, len(COLOURS) + 1, num_classes + 1], 1)):
        loss = loss + -(weight * (target * F.log_softmax(logits, 1)).sum(1)).sum((1, 2)).mean()
    return loss


def presence_targets(captions, classes):
    """[N, K * C + K]: which (colour, class) pairs (index colour * C + class) and which colours each caption
    names, whatever the objects' sizes (the --presence-weight targets)."""
    out = np.zeros((len(captions), len(COLOURS) * (len(classes) + 1)), dtype=np.float32)
    for j, words in enumerate(captions):
        for _, colour, cls in noun_phrases(words):
            out[j, pair_index(colour, cls, classes)] = 1
            out[j, len(COLOURS) * len(classes) + COLOURS.index(colour)] = 1
    return out


def encode(captions, vocab, max_len):
    index = {w: i + 1 for i, w in enumerate(vocab)}
    tokens = torch.zeros(len(captions), max_len, dtype=torch.long)
    mask = torch.zeros(len(captions), max_len + 1)
    for j, words in enumerate(captions):
        tokens[j, :len(words)] = torch.tensor([index[w] for w in words])
        mask[j, :len(words) + 1] = 1.0
    return tokens, mask


def decode(ids, vocab):
    words = []
    for i in ids:
        if i == 0:
            break
        words.append(vocab[i - 1])
    return " ".join(words)


def read_captions(data, split, ids):
    with open(os.path.join(data, "coco", "annotations", f"captions_{split}2014.json")) as f:
        by_id = {a["image_id"]: a["caption"] for a in json.load(f)["annotations"]}
    return [by_id[int(i)].split() for i in ids]


@torch.no_grad()
def pooled_features(model, images_u8, batch=100, device="cpu"):
    """The decoder's image features and the auxiliary logits of uint8 images, in eval mode."""
    model.eval()
    pooled, logits = [], []
    for i in range(0, len(images_u8), batch):
        x = normalise(torch.from_numpy(images_u8[i:i + batch]).to(device).float() / 255.0)
        p, lg = model.features(x.contiguous(memory_format=torch.channels_last))
        pooled.append(p)
        logits.append(lg)
    return torch.cat(pooled), torch.cat(logits)


@torch.no_grad()
def caption_scores(model, pooled, captions, vocab, max_len, batch=100):
    """Greedy captions of pooled features against the references: exact-match rate and per-word accuracy."""
    model.eval()
    exact, word_hits, word_total = 0, 0, 0
    for i in range(0, len(pooled), batch):
        words, _ = model.greedy(pooled[i:i + batch], max_len)
        for j, ref in enumerate(captions[i:i + batch]):
            hyp = decode(words[j].tolist(), vocab).split()
            exact += hyp == ref
            word_hits += sum(a == b for a, b in zip(hyp, ref))
            word_total += max(len(hyp), len(ref))
    return {"exact": exact / len(captions), "word_acc": word_hits / word_total}


def evaluate(model, images_u8, captions, labels, vocab, max_len, device="cpu"):
    pooled, logits = pooled_features(model, images_u8, device=device)
    m, _ = mean_ap(logits.cpu().numpy(), labels)
    return {**caption_scores(model, pooled, captions, vocab, max_len), "map": m}


def write_weights(out, model, export, data, slice_ids, slice_captions, vocab, max_len, size, width):
    """weights.safetensors (the export) and test_slice.safetensors (see the module doc) into out; `model` holds the
    exported weights."""
    os.makedirs(out, exist_ok=True)
    model.eval()
    with torch.no_grad():
        x = normalise(load_images_float(data, slice_ids, size))
        pooled, _ = model.features(x)
        words, logps = model.greedy(pooled, max_len)
        ref_tokens, _ = encode(slice_captions, vocab, max_len)
        ref_logp = model.teacher_forced(pooled, ref_tokens)
    save_safetensors(os.path.join(out, "weights.safetensors"), export,
                     {"arch": "resnet101+lstm", "width": str(width)}, writer="builtin")
    save_safetensors(os.path.join(out, "test_slice.safetensors"),
                     {"pooled": pooled.float(), "greedy_tokens": words.long(), "greedy_logp": logps.float(),
                      "reference_tokens": ref_tokens.long(), "reference_logp": ref_logp.float()},
                     {"ids": json.dumps(slice_ids)}, writer="builtin")


def write_manifest(out, manifest, resumed_from):
    """manifest.json into out; the manifest beside `resumed_from`'s weights, if any, is kept whole (its own earlier
    runs included) under training.resumed_run."""
    earlier = os.path.join(os.path.dirname(resumed_from or ""), "manifest.json")
    if resumed_from and os.path.exists(earlier):
        with open(earlier) as f:
            before = json.load(f)
        manifest["training"]["resumed_run"] = {**before["training"], "metrics": before.get("metrics")}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def add_run_options(ap, minutes, batch, lr):
    """The options a captioner training run shares with finetune_decoder.py: data, output, budget, optimiser."""
    ap.add_argument("--data", default="data/synthetic")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=minutes)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--warmup", type=float, default=0.03)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--embed", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=256)
    add_run_options(ap, minutes=55, batch=32, lr=2e-3)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--slice", type=int, default=50)
    ap.add_argument("--f32", action="store_true")
    ap.add_argument("--init-from",
                    help="a shipped ResNet50 classifier's weights.safetensors to start the backbone from")
    ap.add_argument("--resume-from", help="a captioner's weights.safetensors (this script's export, same vocabulary "
                    "and pooling) to continue training from; the training-only heads start afresh")
    ap.add_argument("--eval-limit", type=int, default=0, help="evaluate on only this many images (smoke tests)")
    ap.add_argument("--aux-weight", type=float, default=1.0, help="weight of the auxiliary 12-way BCE")
    ap.add_argument("--stages", default="", help='smaller training sizes first, e.g. "160:0.8" (as train_classifier)')
    ap.add_argument("--epochs", type=int, default=0,
                    help="train this many epochs instead of --minutes (pilots on other hardware)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--val-every", type=int, default=1, help="score val every N epochs below --size")
    ap.add_argument("--pooling", choices=sorted(POOLINGS), default="mean", help="the decoder's image feature")
    ap.add_argument("--dense-weight", type=float, default=0.0,
                    help="weight of the training-only dense (colour, class) head on layer4 (0: none)")
    ap.add_argument("--dense-grid", type=int, default=56, help="label-map resolution for --dense-weight")
    ap.add_argument("--dense-balance", type=float, default=0.0,
                    help="extra dense-loss weight shared equally by an image's objects, in units of the uniform "
                         "weight (0: every cell alike, so small objects count little)")
    ap.add_argument("--presence-weight", type=float, default=0.0,
                    help="weight of a training-only linear head on layer4's mean: BCE for every (colour, class) "
                         "pair and colour the caption names, whatever the object's size")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    table = relation_table()
    assert table[0] == {w: w for w in RELATION_WORDS}, table[0]
    with open(os.path.join(args.data, "manifest.json")) as f:
        world = json.load(f)
    classes = world["classes"]
    cache = os.path.join(args.data, ".cache")
    splits = {}
    for split in ("train", "val", "test"):
        ids, labels = read_split(args.data, split, classes)
        splits[split] = (ids, labels, load_images(args.data, ids, args.size, cache),
                         read_captions(args.data, split, ids))
    maps = None
    if args.dense_weight > 0:
        maps = torch.from_numpy(label_maps(args.data, "train", splits["train"][0], splits["train"][3], classes,
                                           args.dense_grid, cache))
    vocab = sorted({w for s in splits.values() for c in s[3] for w in c})
    max_len = max(len(c) for s in splits.values() for c in s[3])
    print(f"vocabulary {len(vocab)} words, longest caption {max_len}", flush=True)

    dense_outputs = (1 + len(COLOURS) * len(classes)) + (len(COLOURS) + 1) + (len(classes) + 1)
    presence = torch.from_numpy(presence_targets(splits["train"][3], classes)) if args.presence_weight > 0 else None
    model = Captioner(args.width, len(classes), len(vocab), args.embed, args.hidden, args.pooling,
                      dense_outputs if maps is not None else 0, 0 if presence is None else presence.shape[1])
    init_weights(model.backbone)
    if args.init_from:
        print(f"backbone from {args.init_from}: {deepen_from_resnet50(model.backbone, args.init_from)}", flush=True)
    if args.resume_from:
        state = exported_state(args.resume_from)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith(("dense.", "presence.")) for k in missing):
            raise SystemExit(f"--resume-from {args.resume_from}: missing {missing}, unexpected {unexpected}")
        print(f"resumed from {args.resume_from} ({len(state)} tensors)", flush=True)
    model.backbone.to(memory_format=torch.channels_last)
    model.to(args.device)
    stages = parse_stages(args.stages, args.size)
    steps_per_epoch = math.ceil(len(splits["train"][0]) / args.batch)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.wd)
    train_ids, train_y, train_x, train_c = splits["train"]
    budget, start = args.minutes * 60, time.time()
    best, log, epoch = (-1.0, None, 0), [], 0
    dev = args.device

    def progress():
        if args.epochs:
            return step / (args.epochs * steps_per_epoch)
        return (time.time() - start) / budget

    step, size = 0, args.size
    while progress() < 1:
        epoch += 1
        model.train()
        perm = np.random.permutation(len(train_ids))
        total, dense_total, presence_total, seen = 0.0, 0.0, 0.0, 0
        for i in range(0, len(perm), args.batch):
            p = progress()
            if p >= 1:
                break
            for g in opt.param_groups:
                g["lr"] = learning_rate(args.lr, p, args.warmup)
            size = stage_size(stages, p)
            step += 1
            idx = perm[i:i + args.batch]
            x, caps, batch_maps = dihedral_batch(torch.from_numpy(train_x[idx]).float() / 255.0,
                                                 [train_c[j] for j in idx], table,
                                                 None if maps is None else maps[idx])
            x = x.to(dev)
            if size != args.size:  # smaller inputs early on (cheaper steps), the full size at the end
                x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
            tokens, mask = encode(caps, vocab, max_len)
            tokens, mask = tokens.to(dev), mask.to(dev)
            pooled, logits, fmap = model.features(normalise(x).contiguous(memory_format=torch.channels_last), True)
            logp = model.teacher_forced(pooled, tokens)
            targets = torch.cat([tokens, torch.zeros(len(idx), 1, dtype=torch.long, device=dev)], 1)
            nll = -(logp.gather(2, targets[..., None])[..., 0] * mask).sum() / mask.sum()
            aux = F.binary_cross_entropy_with_logits(logits, torch.from_numpy(train_y[idx]).to(dev))
            loss = nll + args.aux_weight * aux
            if maps is not None:
                dense = dense_loss(model.dense(fmap), batch_maps.to(dev), len(classes), args.dense_balance)
                loss = loss + args.dense_weight * dense
                dense_total += float(dense) * len(idx)
            if presence is not None:
                held = model.presence(pooled[:, :model.presence.in_features])
                present = F.binary_cross_entropy_with_logits(held, presence[idx].to(dev))
                loss = loss + args.presence_weight * present
                presence_total += float(present) * len(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(nll) * len(idx)
            seen += len(idx)
        lim = args.eval_limit or None
        entry = {"epoch": epoch, "nll": total / max(seen, 1), "dense": dense_total / max(seen, 1),
                 "presence": presence_total / max(seen, 1), "size": size}
        scored = val_due(stages, progress(), epoch, args.val_every)
        if scored:
            val = evaluate(model, splits["val"][2][:lim], splits["val"][3][:lim], splits["val"][1][:lim], vocab,
                           max_len, device=dev)
            entry.update({f"val_{k}": v for k, v in val.items()})
        log.append({**entry, "minutes": (time.time() - start) / 60})
        print(json.dumps(log[-1]), flush=True)
        if scored and val["exact"] > best[0]:
            best = (val["exact"], {k: v.clone() for k, v in model.state_dict().items()}, epoch)
    train_minutes = (time.time() - start) / 60
    model.load_state_dict(best[1])
    model.to("cpu")
    model.dense = model.presence = None  # training-only

    f16 = not args.f32
    export = state_for_export(model, f16)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in export.items()})
    test_ids, test_y, test_x, test_c = splits["test"]
    lim = args.eval_limit or None
    test = evaluate(model, test_x[:lim], test_c[:lim], test_y[:lim], vocab, max_len)
    print(f"best epoch {best[2]}: val exact {best[0]:.4f}; test {json.dumps(test)}", flush=True)

    write_weights(args.out, model, export, args.data, test_ids[:args.slice], test_c[:args.slice], vocab, max_len,
                  args.size, args.width)
    manifest = {
        "name": os.path.basename(os.path.normpath(args.out)),
        "kind": "captioner",
        "arch": "resnet101",
        "width": args.width,
        "numClasses": len(classes),
        "classes": classes,
        "head": "classifier",
        "multiLabel": True,
        "inputSize": [args.size, args.size],
        "preprocess": {"resize": "bilinear, align_corners=false, no antialias, to inputSize", "scale": 1 / 255,
                       "mean": MEAN, "std": STD},
        "probeLayers": PROBES,
        "weights": {"file": "weights.safetensors", "dtype": "F16" if f16 else "F32", "backbonePrefix": "backbone."},
        "decoder": {"type": "lstm", "style": "neuraltalk2 ShowTell: image embedding at t=0, <bos> at t=1",
                    "embed": args.embed, "hidden": args.hidden, "vocabulary": vocab, "bos": 0, "eos": 0,
                    "maxLength": max_len, "gateOrder": "i,f,g,o", "pooling": args.pooling},
        "training": {"data": args.data, "world_seed": world.get("seed"), "train": len(train_ids),
                     "epochs": epoch, "best_epoch": best[2], "minutes": round(train_minutes, 1),
                     "threads": args.threads, "batch": args.batch, "lr": args.lr, "optimizer": "AdamW",
                     "weight_decay": args.wd, "augmentation": "dihedral with relation words remapped",
                     "seed": args.seed, "aux_weight": args.aux_weight, "device": args.device,
                     "dense_weight": args.dense_weight, "dense_grid": args.dense_grid,
                     "dense_balance": args.dense_balance, "presence_weight": args.presence_weight,
                     "init_from": args.init_from, "resumed_from": args.resume_from,
                     "stages": [{"size": sz, "until": u} for sz, u in stages], "log": log,
                     "command": "/usr/bin/python3 tools/train_captioner.py " + " ".join(sys.argv[1:])},
        "metrics": {"val_exact": best[0], "test_exact": test["exact"], "test_word_accuracy": test["word_acc"],
                    "test_map": test["map"]},
    }
    write_manifest(args.out, manifest, args.resume_from)
    print(json.dumps({"test": test, "minutes": round(train_minutes, 1)}), flush=True)


if __name__ == "__main__":
    main()

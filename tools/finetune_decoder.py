#!/usr/bin/python3
"""Retrain an exported captioner's LSTM decoder on its frozen backbone (issue 4), offline, on CPU.

  /usr/bin/python3 tools/finetune_decoder.py --from models/captioner_synthetic --minutes 15 \
      --out /tmp/captioner_synthetic

Why: trained end to end, the decoder reads less from the image feature than a linear probe does (the first
object's colour, models/README). With the backbone frozen, the feature of every training image under each of the
8 flips / quarter-turns (relation words remapped, as train_captioner.py's augmentation) is computed once, and the
decoder (img_embed, embed, lstm, logit) trains on those vectors many epochs a minute.
--fresh starts the decoder afresh (then --embed / --hidden may differ from the source); otherwise it continues.
Val exact match is scored every epoch; the best epoch is exported in train_captioner.py's format (weights with
the backbone unchanged, manifest with the source's training kept under training.resumed_run, test slice).
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_captioner import (Captioner, add_run_options, caption_scores, encode, exported_state,  # noqa: E402
                             pooled_features, read_captions, relation_table, transform_caption, write_manifest,
                             write_weights)
from train_classifier import (dihedral_map, learning_rate, load_images, mean_ap, read_split,  # noqa: E402
                              state_for_export)

DECODER = ("img_embed.", "embed.", "lstm.", "logit.")


def dihedral_features(model, images_u8, captions, table, batch=100):
    """Pooled features [8N, F] of every image under each dihedral map k (k-major) and the captions to match."""
    feats, caps = [], []
    for k in range(8):
        for i in range(0, len(images_u8), batch):
            x = dihedral_map(torch.from_numpy(images_u8[i:i + batch]), k)
            feats.append(pooled_features(model, np.ascontiguousarray(x.numpy()), batch)[0])
        caps += [transform_caption(c, table[k]) for c in captions]
        print(f"features under map {k + 1} of 8", flush=True)
    return torch.cat(feats), caps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--from", dest="source", required=True, help="an exported captioner's directory")
    add_run_options(ap, minutes=15, batch=128, lr=1e-3)
    ap.add_argument("--fresh", action="store_true", help="start the decoder afresh instead of continuing it")
    ap.add_argument("--embed", type=int, default=0, help="with --fresh: embedding size (default: the source's)")
    ap.add_argument("--hidden", type=int, default=0, help="with --fresh: LSTM size (default: the source's)")
    ap.add_argument("--limit", type=int, default=0, help="use only this many images per split (smoke tests)")
    ap.add_argument("--slice", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--features", help="a file to keep the frozen backbone's features in; reused when the source "
                                       "weights, --data and --limit are the same")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    with open(os.path.join(args.source, "manifest.json")) as f:
        source = json.load(f)
    dec, classes = source["decoder"], source["classes"]
    vocab, max_len, size = dec["vocabulary"], dec["maxLength"], source["inputSize"][0]
    if not args.fresh and (args.embed or args.hidden):
        raise SystemExit("--embed / --hidden need --fresh: a continued decoder keeps the source's sizes")
    embed, hidden = args.embed or dec["embed"], args.hidden or dec["hidden"]
    model = Captioner(source["width"], len(classes), len(vocab), embed, hidden, dec["pooling"])
    state = exported_state(os.path.join(args.source, "weights.safetensors"))
    if args.fresh:
        state = {k: v for k, v in state.items() if k.startswith("backbone.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or (not args.fresh and missing) or any(k.startswith("backbone.") for k in missing):
        raise SystemExit(f"--from {args.source}: missing {missing}, unexpected {unexpected}")
    for p in model.backbone.parameters():
        p.requires_grad_(False)

    cache, lim = os.path.join(args.data, ".cache"), args.limit or None
    splits = {}
    for split in ("train", "val", "test"):
        ids, labels = read_split(args.data, split, classes)
        images = load_images(args.data, ids, size, cache)  # the whole split: the cache is keyed by its ids
        splits[split] = (ids[:lim], labels[:lim], images[:lim], read_captions(args.data, split, ids[:lim]))
    start = time.time()
    with open(os.path.join(args.source, "weights.safetensors"), "rb") as f:
        key = f"{hashlib.sha256(f.read()).hexdigest()} {os.path.abspath(args.data)} {args.limit}"
    kept = torch.load(args.features) if args.features and os.path.exists(args.features) else None
    if kept is not None and kept["key"] == key:
        train_f, train_c, val_f = kept["train"], kept["captions"], kept["val"]
    else:
        train_f, train_c = dihedral_features(model, splits["train"][2], splits["train"][3], relation_table())
        val_f = pooled_features(model, splits["val"][2])[0]
        if args.features:
            torch.save({"key": key, "train": train_f, "captions": train_c, "val": val_f}, args.features)
    features_minutes = (time.time() - start) / 60
    print(f"features: {len(train_f)} train, {len(val_f)} val in {features_minutes:.1f} min", flush=True)
    tokens, mask = encode(train_c, vocab, max_len)
    targets = torch.cat([tokens, torch.zeros(len(tokens), 1, dtype=torch.long)], 1)

    params = [p for n, p in model.named_parameters() if n.startswith(DECODER)]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.wd)
    budget, start = args.minutes * 60, time.time()
    best, log, epoch = (-1.0, None, 0), [], 0
    while time.time() - start < budget:
        epoch += 1
        model.train()
        perm, total = torch.randperm(len(train_f)), 0.0
        for i in range(0, len(perm), args.batch):
            progress = (time.time() - start) / budget
            if progress >= 1:
                break
            for g in opt.param_groups:
                g["lr"] = learning_rate(args.lr, progress, args.warmup)
            j = perm[i:i + args.batch]
            logp = model.teacher_forced(train_f[j], tokens[j])
            nll = -(logp.gather(2, targets[j][..., None])[..., 0] * mask[j]).sum() / mask[j].sum()
            opt.zero_grad()
            nll.backward()
            opt.step()
            total += float(nll) * len(j)
        val = caption_scores(model, val_f, splits["val"][3], vocab, max_len)
        log.append({"epoch": epoch, "nll": total / len(perm), **{f"val_{k}": v for k, v in val.items()},
                    "minutes": (time.time() - start) / 60})
        print(json.dumps(log[-1]), flush=True)
        if val["exact"] > best[0]:
            best = (val["exact"], {k: v.clone() for k, v in model.state_dict().items()}, epoch)
    train_minutes = (time.time() - start) / 60
    model.load_state_dict(best[1])

    export = state_for_export(model, source["weights"]["dtype"] == "F16")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in export.items()})
    test_ids, test_y, test_x, test_c = splits["test"]
    test_f, test_logits = pooled_features(model, test_x)
    test = {**caption_scores(model, test_f, test_c, vocab, max_len), "map": mean_ap(test_logits.numpy(), test_y)[0]}
    print(f"best epoch {best[2]}: val exact {best[0]:.4f}; test {json.dumps(test)}", flush=True)
    write_weights(args.out, model, export, args.data, test_ids[:args.slice], test_c[:args.slice], vocab, max_len,
                  size, source["width"])
    manifest = {**source, "name": os.path.basename(os.path.normpath(args.out)),
                "decoder": {**dec, "embed": embed, "hidden": hidden}}
    manifest["training"] = {
        "stage": "decoder only, backbone frozen (tools/finetune_decoder.py)", "data": args.data,
        "train_features": len(train_f), "augmentation": "the 8 dihedral maps of every image, relation words remapped",
        "fresh_decoder": args.fresh, "epochs": epoch, "best_epoch": best[2], "minutes": round(train_minutes, 1),
        "features_minutes": round(features_minutes, 1), "threads": args.threads, "batch": args.batch,
        "lr": args.lr, "optimizer": "AdamW", "weight_decay": args.wd, "seed": args.seed, "log": log,
        "command": "/usr/bin/python3 tools/finetune_decoder.py " + " ".join(sys.argv[1:])}
    manifest["metrics"] = {"val_exact": best[0], "test_exact": test["exact"], "test_word_accuracy": test["word_acc"],
                           "test_map": test["map"]}
    write_manifest(args.out, manifest, os.path.join(args.source, "weights.safetensors"))
    print(json.dumps({"test": test, "minutes": round(train_minutes, 1)}), flush=True)


if __name__ == "__main__":
    main()

"""Dense training targets for the captioner (tools/train_captioner.py --dense-weight): for every image, a coarse
label map of which (colour, class) pair covers each cell, read from the world's own annotations.

The COCO instances file gives each object's visible mask (polygons, or uncompressed column-major RLE for crowd
objects) and its class; the caption names the objects in decreasing visible area (ties: painting order, which is
the annotation id order; lib/synthetic/caption.ts), so its k-th noun phrase "a <size> <colour> <class>" gives the
colour of the k-th object in that order. The class word is checked against the annotation's category.

  /usr/bin/python3 tools/caption_targets.py --split val   # self-check: masks against COCO areas

Label of a pixel: 0 for background, else 1 + colour_index * C + class_index (C classes). The full-size label map is
resized to grid x grid with nearest-neighbour sampling, the same whole-image resize (aspect not kept) the image
cache uses. Cached as uint8 .npy next to the image cache.
"""
import hashlib
import json
import os

import numpy as np

from train_classifier import save_cache

COLOURS = ["red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "brown", "white", "black", "grey"]


def pair_index(colour, cls, classes):
    """Index of a (colour, class) pair, colour-major: colour * C + class (label maps add 1 for background)."""
    return COLOURS.index(colour) * len(classes) + classes.index(cls)


def noun_phrases(words):
    """[(size, colour, class)] of a caption in the synthetic grammar: every noun phrase is "a size colour class"."""
    return [tuple(words[i + 1:i + 4]) for i, w in enumerate(words) if w == "a"]


def rle_mask(rle):
    """Uncompressed column-major COCO RLE -> bool [h, w]."""
    h, w = rle["size"]
    flat = np.zeros(h * w, dtype=bool)
    pos, value = 0, False
    for run in rle["counts"]:
        if value:
            flat[pos:pos + run] = True
        pos += run
        value = not value
    return flat.reshape(w, h).T


def polygon_mask(polygons, h, w):
    """Polygons in pixel-corner coordinates -> bool [h, w]: a pixel is in when its centre is inside an odd number of
    polygons' boundaries (even-odd, so bridged holes stay holes). Pixel centres never lie on these edges."""
    toggles = np.zeros((h, w + 1), dtype=np.int32)
    yc = np.arange(h) + 0.5
    for poly in polygons:
        p = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
        x0, y0 = p[:, 0], p[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        crosses = (y0[None] <= yc[:, None]) != (y1[None] <= yc[:, None])  # [h, edges]
        rows, edges = np.nonzero(crosses)
        t = (yc[rows] - y0[edges]) / (y1[edges] - y0[edges])
        x = x0[edges] + t * (x1[edges] - x0[edges])
        # The first pixel whose centre is right of the crossing.
        cols = np.clip(np.ceil(x - 0.5).astype(int), 0, w)
        np.add.at(toggles, (rows, cols), 1)
    return (np.cumsum(toggles, axis=1)[:, :w] % 2).astype(bool)


def label_maps(data, split, ids, captions, classes, grid, cache):
    """uint8 [N, grid, grid] label maps for the split's images (ids as strings, captions as word lists)."""
    key = hashlib.sha256(("\n".join(ids) + f"@labels{grid}").encode()).hexdigest()[:16]
    path = os.path.join(cache, f"labels_{key}.npy")
    if os.path.exists(path):
        return np.load(path)
    with open(os.path.join(data, "coco", "annotations", f"instances_{split}2014.json")) as f:
        inst = json.load(f)
    images = {im["id"]: im for im in inst["images"]}
    cat_name = {c["id"]: c["name"] for c in inst["categories"]}
    by_image = {}
    for a in inst["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    out = np.zeros((len(ids), grid, grid), dtype=np.uint8)
    for n, (image_id, words) in enumerate(zip(ids, captions)):
        im = images[int(image_id)]
        h, w = im["height"], im["width"]
        anns = sorted(by_image.get(int(image_id), []), key=lambda a: (-a["area"], a["id"]))
        phrases = noun_phrases(words)
        if len(phrases) != len(anns):
            raise ValueError(f"image {image_id}: {len(anns)} objects but caption names {len(phrases)}")
        full = np.zeros((h, w), dtype=np.uint8)
        for a, (_, colour, cls) in zip(anns, phrases):
            if cat_name[a["category_id"]] != cls:
                raise ValueError(f"image {image_id}: caption says {cls}, annotation {a['id']} is "
                                 f"{cat_name[a['category_id']]}")
            seg = a["segmentation"]
            mask = rle_mask(seg) if isinstance(seg, dict) else polygon_mask(seg, h, w)
            full[mask] = 1 + pair_index(colour, cls, classes)
        # Nearest sampling at the centres of a grid x grid tiling of the whole image.
        ys = np.minimum(((np.arange(grid) + 0.5) * h / grid).astype(int), h - 1)
        xs = np.minimum(((np.arange(grid) + 0.5) * w / grid).astype(int), w - 1)
        out[n] = full[ys][:, xs]
    return save_cache(path, out)


def check(data, split, limit):
    """Self-check against the annotations' own numbers: each rasterised mask's pixel count against COCO's `area`
    (the polygons are simplified to IoU >= 0.98 with the mask, so small differences are expected)."""
    with open(os.path.join(data, "coco", "annotations", f"instances_{split}2014.json")) as f:
        inst = json.load(f)
    images = {im["id"]: im for im in inst["images"]}
    errors = []
    for a in inst["annotations"][:limit]:
        im = images[a["image_id"]]
        seg = a["segmentation"]
        mask = rle_mask(seg) if isinstance(seg, dict) else polygon_mask(seg, im["height"], im["width"])
        errors.append(abs(int(mask.sum()) - a["area"]) / a["area"])
    errors = np.array(errors)
    print(f"{len(errors)} {split} masks: |pixels - area| / area mean {errors.mean():.4f}, "
          f"max {errors.max():.4f}, over 5%: {(errors > 0.05).sum()}")


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="check the rasterised masks against the COCO annotations")
    ap.add_argument("--data", default="data/synthetic")
    ap.add_argument("--split", default="val")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    check(args.data, args.split, args.limit or None)

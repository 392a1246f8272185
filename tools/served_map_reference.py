"""PyTorch reference for a map the service serves: the shipped ResNet50 (models/resnet50_synthetic, its F16
weights widened to float32) explains a 224 x 224 PNG by Grad-CAM at layer4, as PyTorch computes it from the same
bytes. The service's test (tests/api_served_map_test.ts) posts these bytes and compares the map it gets back.

  image      a synthetic test image (data/synthetic, its first test JPEG) resized by PIL to 224 x 224 and saved as
             PNG: lossless, so PIL and the service's decoder read the same pixels; at the model's input size the
             service's bilinear resize is the identity
  input      pixels * manifest scale, minus mean, over std (the manifest's preprocessing), NCHW float32
  target     the model's top logit on it
  map        Grad-CAM (Selvaraju et al. 2017): relu(sum_k mean_uv(g_k) x_k) of layer4's output x and
             g = dS/dx, S = the target's logit (a one-hot seed); reduced in float64, stored float32 (7 x 7)

Writes tests/fixtures/pytorch/served_gradcam.png and served_gradcam.safetensors (keys map (7, 7), logits (12,);
metadata: target, layer, method). Needs the synthetic world (`deno task data`).

Run:  /usr/bin/python3 tools/served_map_reference.py
"""

import io
import json
import os
import sys

sys.dont_write_bytecode = True  # no tools/__pycache__ in the working tree

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402
import torch_nets  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "resnet50_synthetic")
OUT = os.path.join(ROOT, "tests", "fixtures", "pytorch")


def main():
    torch.set_num_threads(1)
    manifest = json.load(open(os.path.join(MODEL, "manifest.json")))
    model = torch_nets.build(manifest["arch"], manifest["width"], manifest["numClasses"], manifest["head"])
    _meta, weights = mf.read_safetensors(os.path.join(MODEL, manifest["weights"]["file"]))
    model.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in weights.items()},
                          strict=True)
    model.eval()

    voc = os.path.join(ROOT, "data", "synthetic", "VOCdevkit", "VOC2007")
    first = open(os.path.join(voc, "ImageSets", "Main", "test.txt")).read().split()[0]
    h, w = manifest["inputSize"]
    img = Image.open(os.path.join(voc, "JPEGImages", f"{first}.jpg")).convert("RGB").resize((w, h), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    png = buf.getvalue()
    pixels = np.array(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32)  # read back: the bytes' pixels

    p = manifest["preprocess"]
    x = (pixels * p["scale"] - np.array(p["mean"], dtype=np.float32)) / np.array(p["std"], dtype=np.float32)
    x = torch.from_numpy(x.astype(np.float32)).permute(2, 0, 1)[None].contiguous()

    captured = {}
    handle = dict(model.named_modules())["layer4"].register_forward_hook(lambda m, i, o: captured.update(x=o))
    logits = model(x)
    handle.remove()
    target = int(logits[0].argmax())
    (g,) = torch.autograd.grad(logits[0, target], captured["x"])
    a, g = captured["x"].detach().double(), g.double()
    cam = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1))[0]

    with open(os.path.join(OUT, "served_gradcam.png"), "wb") as f:
        f.write(png)
    meta = {"target": str(target), "layer": "layer4", "method": "grad-cam", "source_image": first}
    size = mf.save_safetensors(os.path.join(OUT, "served_gradcam.safetensors"),
                               {"map": cam.float().contiguous(), "logits": logits[0].detach().float().contiguous()},
                               meta)
    print(f"target {target}; map max {float(cam.max()):.4f}; wrote served_gradcam.png ({len(png)} bytes) and "
          f"served_gradcam.safetensors ({size} bytes)")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Reference fixture for the TypeScript captioner (issue 6): a tiny random captioner in the exact format that
tools/train_captioner.py ships, and PyTorch's answers for it.

  /usr/bin/python3 tools/caption_fixture.py --out tests/fixtures/caption
  /usr/bin/python3 tools/caption_fixture.py --out tests/fixtures/caption --pooling moments

Writes <out>/tiny/{manifest.json, weights.safetensors} (ResNet101 width 1/32 backbone, input 64x64, LSTM with
E = 16, H = 24, the synthetic world's 35-word vocabulary; weights random with non-trivial batch-norm statistics)
and <out>/tiny_reference.safetensors holding, for two random normalised images (stored NHWC) and one caption:
  pooled [2, C]                     the decoder's image feature: the global-average-pooled layer4 feature
                                    (with --pooling moments: <out>/tiny_moments/ and tiny_moments_reference, and
                                    pooled [2, 3C], the mean and the x- and y-weighted means of layer4)
  caption_tokens [T]                the caption's token ids (1-based vocabulary index)
  teacher_logp [2, T+1, V+1]        log p at each step under teacher forcing (the last step predicts <eos>)
  grad_pooled_sum [2, C]            dS/dpooled for S = sum over steps of log p(target)
  positions [P], grad_pooled_word [P, 2, C]   dS_k/dpooled for S_k = log p(w_k) (k = P positions)
  sng_<layer> [2, h, w]             selective NormGrad ||relu(x * g)||_2 over channels for S = the sum, at layer3.0,
                                    layer4.0 and layer4 (x the block output, g = dS/dx)
  greedy_tokens [2, L], greedy_logp [2, L]    greedy decoding = beam width 1 (ends with token 0 = <eos>; <eos>
                                              forced after 20 words; padded with -1 / 0)
  beam3_tokens [2, L], beam3_logprob [2]      beam search of width 3 with the rules of lib/caption/search.ts
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import save_safetensors  # noqa: E402
from train_captioner import Captioner  # noqa: E402

VOCAB = sorted("a small medium large black blue brown cyan green grey orange pink purple red white yellow circle "
               "square triangle star ring cross hexagon heart crescent arrow diamond pentagon left right of above "
               "below with and".split())
CLASSES = ["circle", "square", "triangle", "star", "ring", "cross", "hexagon", "heart", "crescent", "arrow",
           "diamond", "pentagon"]
CAPTION = "a small red star left of a large blue ring".split()
LAYERS = ["layer3.0", "layer4.0", "layer4"]
MAX_LEN = 20
LOGIT_SCALE, EOS_BIAS, IMG_SCALE = [float(v) for v in os.environ.get("FIXTURE_SCALES", "3,-3,10").split(",")]


def randomise(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.5 if p.dim() > 1 else 0.2
            fan_in = p[0].numel() if p.dim() > 1 else 1
            p.copy_(torch.randn(p.shape, generator=gen) * scale / fan_in ** 0.5 * (3 if "lstm" in name else 1))
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
                m.weight.add_(1.0)
        # Peakier word distributions and a rarer <eos>, so decoding runs several words and beams differ.
        model.logit.weight.mul_(LOGIT_SCALE)
        model.logit.bias[0] += EOS_BIAS
        model.img_embed.weight.mul_(IMG_SCALE)


def beam_search(model, pooled, width, max_len):
    """The rules of lib/caption/search.ts, written independently."""
    _, state = model.lstm(model.img_embed(pooled)[:, None])
    beams = [([], [], 0.0, state)]
    finished = []
    for t in range(max_len + 1):
        cands = []
        outs = []
        for i, (tokens, steps, score, st) in enumerate(beams):
            word = torch.tensor([tokens[-1] if tokens else 0])
            out, nst = model.lstm(model.embed(word)[:, None], st)
            lp = F.log_softmax(model.logit(out[:, 0]), dim=-1)[0]
            outs.append((lp, nst))
            for k in range(lp.shape[0]):
                if t == max_len and k != 0:
                    continue
                cands.append((-(score + float(lp[k])), i, k))
        cands.sort()
        kept = []
        for neg, i, k in cands[:width]:
            tokens, steps, score, _ = beams[i]
            lp, nst = outs[i]
            if k == 0:
                finished.append((tokens, steps + [float(lp[k])], -neg))
            else:
                kept.append((tokens + [k], steps + [float(lp[k])], -neg, nst))
        beams = kept
        best_done = max([f[2] for f in finished], default=-float("inf"))
        if all(b[2] <= best_done for b in beams):
            break
    finished.sort(key=lambda f: -f[2])
    return finished[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/caption")
    ap.add_argument("--pooling", choices=["mean", "moments"], default="mean")
    args = ap.parse_args()
    fixture = "tiny" if args.pooling == "mean" else f"tiny_{args.pooling}"
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = Captioner(1 / 32, len(CLASSES), len(VOCAB), 16, 24, args.pooling)
    randomise(model, gen)
    model.eval()
    os.makedirs(os.path.join(args.out, fixture), exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_safetensors(os.path.join(args.out, fixture, "weights.safetensors"), state, {"arch": "resnet101+lstm"},
                     writer="builtin")
    manifest = {
        "name": "caption_fixture_tiny", "kind": "captioner", "arch": "resnet101", "width": 1 / 32,
        "numClasses": len(CLASSES), "classes": CLASSES, "head": "classifier", "multiLabel": True,
        "inputSize": [64, 64],
        "preprocess": {"resize": "bilinear", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406],
                       "std": [0.229, 0.224, 0.225]},
        "probeLayers": ["", "layer3.0", "layer4.0", "layer4"],
        "weights": {"file": "weights.safetensors", "dtype": "F32", "backbonePrefix": "backbone."},
        "decoder": {"embed": 16, "hidden": 24, "vocabulary": VOCAB, "bos": 0, "eos": 0, "maxLength": MAX_LEN,
                    **({} if args.pooling == "mean" else {"pooling": args.pooling})},
        "training": {"note": "random weights: a fidelity fixture, not a trained model"},
    }
    with open(os.path.join(args.out, fixture, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)

    x = torch.randn(2, 3, 64, 64, generator=gen)
    tokens = torch.tensor([VOCAB.index(w) + 1 for w in CAPTION])
    acts = {}

    def hook(name):
        def fn(_m, _i, out):
            out.retain_grad()
            acts[name] = out
        return fn

    b = model.backbone
    handles = [b.get_submodule(name).register_forward_hook(hook(name)) for name in LAYERS]
    pooled, _ = model.features(x)
    pooled.retain_grad()
    lp = model.teacher_forced(pooled, tokens[None].repeat(2, 1))
    targets = torch.cat([tokens, torch.zeros(1, dtype=torch.long)])
    picked = lp.gather(2, targets[None, :, None].repeat(2, 1, 1))[..., 0]
    picked.sum().backward()
    for h in handles:
        h.remove()
    out = {"input_nhwc": x.permute(0, 2, 3, 1).contiguous(), "pooled": pooled.detach(),
           "caption_tokens": tokens, "teacher_logp": lp.detach(), "grad_pooled_sum": pooled.grad.detach()}
    for name in LAYERS:
        a, g = acts[name], acts[name].grad
        out[f"sng_{name}"] = torch.relu(a * g).pow(2).sum(1).sqrt().detach()

    positions = [0, 3, len(CAPTION)]
    grads = []
    for k in positions:
        p = pooled.detach().clone().requires_grad_(True)
        lpk = model.teacher_forced(p, tokens[None].repeat(2, 1))
        lpk[:, k, targets[k]].sum().backward()
        grads.append(p.grad.detach())
    out["positions"] = torch.tensor(positions)
    out["grad_pooled_word"] = torch.stack(grads)

    with torch.no_grad():
        greedy_tokens = torch.full((2, MAX_LEN + 1), -1, dtype=torch.long)
        greedy_logp = torch.zeros(2, MAX_LEN + 1)
        for i in range(2):
            tokens_i, steps_i, _ = beam_search(model, pooled.detach()[i:i + 1], 1, MAX_LEN)
            greedy_tokens[i, :len(tokens_i) + 1] = torch.tensor(tokens_i + [0], dtype=torch.long)
            greedy_logp[i, :len(steps_i)] = torch.tensor(steps_i)
        out["greedy_tokens"], out["greedy_logp"] = greedy_tokens, greedy_logp
        beam_tokens = torch.full((2, MAX_LEN), -1, dtype=torch.long)
        beam_lp = torch.zeros(2)
        for i in range(2):
            tokens_i, _, score = beam_search(model, pooled.detach()[i:i + 1], 3, MAX_LEN)
            beam_tokens[i, :len(tokens_i)] = torch.tensor(tokens_i, dtype=torch.long)
            beam_lp[i] = score
        out["beam3_tokens"], out["beam3_logprob"] = beam_tokens, beam_lp
    save_safetensors(os.path.join(args.out, f"{fixture}_reference.safetensors"), out, {"caption": " ".join(CAPTION)},
                     writer="builtin")
    print({k: tuple(v.shape) for k, v in out.items()})


if __name__ == "__main__":
    main()

/**
 * The CAMs that weight a layer's channels by forward passes instead of gradients (one forward per channel,
 * run `batch` channels to a pass; no backward). For each image and layer, with A [h, w, C] the layer's
 * activation and s(·) the target's score of a forward (the seed's objective on that pass's own output: the
 * target logit for a one-hot seed):
 *
 *   score-cam     Wang et al., "Score-CAM: Score-Weighted Visual Explanations for CNNs", CVPR-W 2020. Channel k
 *                 is upsampled to the input (bilinear, corners aligned), min-max normalised (+1e-8) into a mask
 *                 M_k, and w = softmax_k s(input ⊙ M_k). The paper's weights are the softmax probability's
 *                 increase over a baseline; these are pytorch-grad-cam's (score_cam.py: UpsamplingBilinear2d,
 *                 softmax over the channels of the target's raw scores), which users compare against.
 *   ablation-cam  Desai & Ramaswamy, "Ablation-CAM", WACV 2020: w_k = (s − s_k) / s with s_k the score when channel
 *                 k of A is set to 0 (eq. 4, the paper's ablation). pytorch-grad-cam (ablation_layer.py) does
 *                 the same when the layer's minimum is 0 (post-ReLU layers, the usual target), and otherwise
 *                 sets the channel to min(A) − 1e7, which only makes sense if a ReLU follows: not followed here.
 *                 On the built-in networks the layers before run once per image, not once per channel (the
 *                 activation is copied per ablated channel where it is replaced); imported graphs run whole.
 * Both are then the Extract & Aggregate pair c_u = A_u ⊙ w, summed over channels, ReLU (lib/saliency/extract.ts).
 * Scores stay on the device: nothing here reads back.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import type { Network } from "../nets/network.ts";
import type { NetWeights } from "../nets/weights.ts";
import { runProbed } from "../nets/probes.ts";
import { SaliencyInputError } from "./errors.ts";
import { type Seed, targetScores, targetSeed } from "./seeds.ts";

export const PERTURBATION_CAMS = ["score-cam", "ablation-cam"] as const;
export type PerturbationCam = typeof PERTURBATION_CAMS[number];

/** Channels per forward pass, as pytorch-grad-cam's defaults (BATCH_SIZE 16 in score_cam.py, 32 in ablation_cam.py). */
export const DEFAULT_CHANNEL_BATCH: Record<PerturbationCam, number> = { "score-cam": 16, "ablation-cam": 32 };

const MASK_EPS = 1e-8;

/** One image's forward scores for `count` channels, `batch` at a time: [count]. */
function channelScores(count: number, batch: number, pass: (from: number, size: number) => Tensor): Tensor {
  const parts: Tensor[] = [];
  for (let from = 0; from < count; from += batch) parts.push(pass(from, Math.min(batch, count - from)));
  return tf.concat(parts);
}

/**
 * The channel weights w [N, 1, 1, C] of a perturbation CAM at each recorded layer, for `input` [N, H, W, 3]
 * whose forward gave `activations` and `output`. Seeds must name targets (one-hot or pointing): these methods
 * score forward passes, they backpropagate nothing.
 */
export function perturbationWeights(
  kind: PerturbationCam,
  net: Network,
  weights: NetWeights,
  input: Tensor,
  forward: { activations: ReadonlyMap<string, Tensor>; output: Tensor },
  seed: Seed,
  batch = DEFAULT_CHANNEL_BATCH[kind],
): Map<string, Tensor> {
  if (!Number.isInteger(batch) || batch < 1) throw new SaliencyInputError("batch must be a positive integer");
  const target = targetSeed(seed, input.shape[0]!, `${kind} scores forward passes by a target class`);
  const [height, width] = [input.shape[1]!, input.shape[2]!];
  const sequential = net.config.arch !== "onnx";
  const out = new Map<string, Tensor>();
  try {
    for (const [layer, activation] of forward.activations) {
      if (activation.rank !== 4) {
        throw new SaliencyInputError(
          `${kind} needs a spatial layer [N, H, W, C]; ${layer} is [${activation.shape}]`,
        );
      }
      const c = activation.shape[3]!;
      out.set(
        layer,
        tf.tidy(() =>
          tf.concat(target.targets.map((t, i) => {
            const image = tf.slice(input, [i, 0, 0, 0], [1, -1, -1, -1]);
            const pass = (x: Tensor, options = {}) => {
              const r = runProbed(net, weights, x, options);
              try {
                return targetScores(target.kind, t, r.output);
              } finally {
                r.dispose();
              }
            };
            let w: Tensor;
            if (kind === "score-cam") {
              const a = tf.slice(activation, [i, 0, 0, 0], [1, -1, -1, -1]);
              w = tf.softmax(channelScores(c, batch, (from, size) =>
                tf.tidy(() => {
                  const up = tf.image.resizeBilinear(
                    tf.slice(a, [0, 0, 0, from], [1, -1, -1, size]) as tf.Tensor4D,
                    [height, width],
                    true,
                  );
                  const lo = tf.min(up, [1, 2], true);
                  const hi = tf.max(up, [1, 2], true);
                  const masks = tf.div(tf.sub(up, lo), tf.add(tf.sub(hi, lo), MASK_EPS)); // [1, H, W, size]
                  return pass(tf.mul(image, tf.transpose(masks, [3, 1, 2, 0]))); // [size, H, W, 3] inputs
                })));
            } else {
              const s0 = targetScores(target.kind, t, tf.slice(forward.output, i, 1));
              const s = channelScores(c, batch, (from, size) =>
                tf.tidy(() => {
                  // row j keeps every channel but from + j
                  const hot = tf.cast(tf.oneHot(tf.range(from, from + size, 1, "int32"), c), "float32");
                  const keep = tf.reshape(tf.sub(1, hot), [size, 1, 1, c]);
                  // The built-in VGG and ResNet carry nothing from before a layer past it but its output, so the
                  // image goes through the layers before once and its activation is copied per ablated channel
                  // there; an imported graph may (a DenseNet's concatenations), so it gets the image per row.
                  return sequential
                    ? pass(image, {
                      replace: new Map([[layer, (x: Tensor) => tf.mul(tf.tile(x, [size, 1, 1, 1]), keep)]]),
                    })
                    : pass(tf.tile(image, [size, 1, 1, 1]), {
                      replace: new Map([[layer, (x: Tensor) => tf.mul(x, keep)]]),
                    });
                }));
              w = tf.div(tf.sub(s0, s), s0);
            }
            return tf.reshape(w, [1, 1, 1, c]);
          }))
        ),
      );
    }
    return out;
  } catch (e) {
    tf.dispose([...out.values()]);
    throw e;
  }
}

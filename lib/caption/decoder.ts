/**
 * The captioner's LSTM decoder (neuraltalk2 / ShowTell, METHODS.md §9; trained by tools/train_captioner.py):
 * the pooled image feature is embedded (Linear C -> E) and fed at t = 0 (its output ignored); token 0 (<bos>) at
 * t = 1; then each word's embedding. One PyTorch-style LSTM layer: gates = x·W_ih^T + b_ih + h·W_hh^T + b_hh,
 * split (i, f, g, o); c' = σ(f)·c + σ(i)·tanh(g); h' = σ(o)·tanh(c'). log p(· | ·) = log_softmax(Linear(h)).
 * Token 0 is also <eos>. Word tokens are 1 + their index in the vocabulary.
 *
 * Everything here is differentiable tfjs, so the log-probability of a caption can be backpropagated into the
 * pooled feature (lib/caption/explain.ts). Tensors are [N, ...] batches; the decoder's weights are owned by it.
 */
import { type Tensor, tf } from "../runtime/tf.ts";

export interface DecoderWeights {
  /** [C, E] (PyTorch img_embed.weight transposed) and [E]. */
  imgEmbedW: Tensor;
  imgEmbedB: Tensor;
  /** [V + 1, E]. */
  embed: Tensor;
  /** [E, 4H], [H, 4H], [4H] (b_ih + b_hh). */
  wIh: Tensor;
  wHh: Tensor;
  bias: Tensor;
  /** [H, V + 1], [V + 1]. */
  logitW: Tensor;
  logitB: Tensor;
}

export interface LstmState {
  h: Tensor;
  c: Tensor;
}

export class Decoder {
  readonly hidden: number;
  readonly vocabSize: number;

  constructor(readonly weights: DecoderWeights, readonly vocabulary: readonly string[]) {
    this.hidden = weights.wHh.shape[0]!;
    this.vocabSize = vocabulary.length + 1;
  }

  dispose(): void {
    tf.dispose(Object.values(this.weights));
  }

  /** One LSTM step: x [N, E], state -> new state. */
  step(x: Tensor, state: LstmState): LstmState {
    const w = this.weights;
    const gates = tf.add(tf.add(tf.matMul(x, w.wIh), tf.matMul(state.h, w.wHh)), w.bias);
    const [i, f, g, o] = tf.split(gates, 4, 1);
    const c = tf.add(tf.mul(tf.sigmoid(f), state.c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
    const h = tf.mul(tf.sigmoid(o), tf.tanh(c));
    return { h, c };
  }

  /** log-probabilities [N, V + 1] from a hidden state. */
  logProbs(h: Tensor): Tensor {
    return tf.logSoftmax(tf.add(tf.matMul(h, this.weights.logitW), this.weights.logitB));
  }

  /** The state after the image (t = 0) from pooled features [N, C]. */
  start(pooled: Tensor): LstmState {
    const n = pooled.shape[0]!;
    const zero = tf.zeros([n, this.hidden]);
    const x = tf.add(tf.matMul(pooled, this.weights.imgEmbedW), this.weights.imgEmbedB);
    return this.step(x, { h: zero, c: zero });
  }

  /** Word embeddings [N, E] of tokens. */
  embedTokens(tokens: readonly number[]): Tensor {
    return tf.gather(this.weights.embed, tf.tensor1d([...tokens], "int32"));
  }

  /**
   * Teacher forcing: per step t = 0..T (T = tokens.length), log p(w_t | w_<t, image) as [N, T + 1, V + 1]
   * where w_T is <eos>; the same caption for every image of the batch. Call inside tf.tidy.
   */
  teacherForced(pooled: Tensor, tokens: readonly number[]): Tensor {
    const n = pooled.shape[0]!;
    let state = this.start(pooled);
    const out: Tensor[] = [];
    for (const token of [0, ...tokens]) {
      state = this.step(this.embedTokens(new Array(n).fill(token)), state);
      out.push(this.logProbs(state.h));
    }
    return tf.stack(out, 1);
  }

  /**
   * log p of each target (tokens then <eos>) under teacher forcing, [N, T + 1], differentiable in `pooled`.
   * Call inside tf.tidy.
   */
  tokenLogProbs(pooled: Tensor, tokens: readonly number[]): Tensor {
    const all = this.teacherForced(pooled, tokens);
    const targets = [...tokens, 0];
    const n = pooled.shape[0]!;
    const mask = tf.oneHot(tf.tensor1d(targets, "int32"), this.vocabSize).reshape([
      1,
      targets.length,
      this.vocabSize,
    ]);
    return tf.sum(tf.mul(all, tf.tile(mask, [n, 1, 1])), 2);
  }
}

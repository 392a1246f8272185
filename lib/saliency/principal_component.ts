/**
 * Eigen-CAM's extraction (Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components",
 * IJCNN 2020): per image, the activations as a matrix A [HW, C] are centred over the positions and projected
 * on their first principal direction v₁ (the top right singular vector of the centred A), as pytorch-grad-cam's
 * get_2d_projection does (svd_on_activations.py). Here the projection is returned per channel,
 * c_uk = (A_uk − mean_u A_uk) · v₁k, so that summing over k gives the projection and any other aggregation can
 * be asked for too. No gradient is used: the map does not depend on the target.
 *
 * v₁'s sign is arbitrary in an SVD (pytorch-grad-cam keeps whatever LAPACK returns); here it is fixed so that
 * the projection's largest-magnitude entry is positive (max p >= −min p), scikit-learn's svd_flip convention,
 * and tools/methods_reference.py applies the same rule.
 *
 * v₁ is found on the device without reading anything back: the top eigenvector of the smaller of the two Gram
 * matrices (AᵀA [C, C] or AAᵀ [HW, HW]), by repeated squaring of the matrix normalised each time, 2^16 powers in
 * all; the result is v₁v₁ᵀ up to float32 rounding unless the two leading eigenvalues are within ~1e-4 of each
 * other (where the principal direction is itself ill-defined). Call inside tf.tidy. x: [N, H, W, C].
 */
import { type Tensor, tf } from "../runtime/tf.ts";

const SQUARINGS = 16;

/** Each batch item's matrix divided by its Frobenius norm (a zero matrix stays zero). */
function normalised(m: Tensor): Tensor {
  const norm = tf.sqrt(tf.sum(tf.square(m), [1, 2], true));
  return tf.div(m, tf.maximum(norm, 1e-30));
}

/** The unit top eigenvector [N, m, 1] of symmetric positive semi-definite matrices [N, m, m]. */
function topEigenvector(gram: Tensor): Tensor {
  const [n, m] = gram.shape as number[];
  if (m === 1) return tf.ones([n, 1, 1]); // a 1 x 1 matrix: its eigenvector is [1] (one position or one channel)
  let p = normalised(gram);
  for (let i = 0; i < SQUARINGS; i++) p = normalised(tf.matMul(p, p));
  // p ≈ v vᵀ: its column with the largest diagonal entry is v·v_j, |v_j| maximal
  const diag = tf.sum(tf.mul(p, tf.eye(m)), -1); // [N, m]
  // made as int32 and cast: tf.oneHot's float32 output on wasm holds int32 bit patterns
  const pick = tf.expandDims(tf.cast(tf.oneHot(tf.argMax(diag, 1), m), "float32"), -1); // [N, m, 1]
  const column = tf.matMul(p, pick);
  return tf.div(column, tf.maximum(tf.sqrt(tf.sum(tf.square(column), 1, true)), 1e-30));
}

export function principalContributions(x: Tensor): Tensor {
  const [n, h, w, c] = x.shape as number[];
  const a = tf.reshape(x, [n, h * w, c]);
  const centred = tf.sub(a, tf.mean(a, 1, true));
  const centredT = tf.transpose(centred, [0, 2, 1]); // [N, C, HW]; explicit: wasm's transpose flags are slow
  let v: Tensor; // [N, C, 1]
  if (c <= h * w) {
    v = topEigenvector(tf.matMul(centredT, centred));
  } else {
    const u = topEigenvector(tf.matMul(centred, centredT)); // [N, HW, 1]
    const av = tf.matMul(centredT, u);
    v = tf.div(av, tf.maximum(tf.sqrt(tf.sum(tf.square(av), 1, true)), 1e-30));
  }
  const projection = tf.matMul(centred, v); // [N, HW, 1]
  const sign = tf.where(
    tf.greaterEqual(tf.max(projection, 1, true), tf.neg(tf.min(projection, 1, true))),
    tf.onesLike(tf.max(projection, 1, true)),
    tf.fill([n, 1, 1], -1),
  );
  const terms = tf.mul(centred, tf.mul(tf.transpose(v, [0, 2, 1]), sign)); // [N, HW, C]
  return tf.reshape(terms, [n, h, w, c]);
}

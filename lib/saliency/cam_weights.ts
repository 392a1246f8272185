/**
 * Channel weights of the CAM variants that weight a layer's activation channels by more than Grad-CAM's mean
 * gradient, as phase-1 extractions c_u = x_u ⊙ w (lib/saliency/extract.ts); each method then sums c_u over the
 * channels and applies a ReLU, as pytorch-grad-cam does for every CAM (base_cam.py, compute_cam_per_layer).
 *
 *   grad-cam-plus-plus  w_k = Σ_u relu(g_uk) α_uk,  α_uk = g_uk² / (2 g_uk² + (Σ_u' x_u'k) g_uk³ + 1e-6), 0 where
 *                       g_uk = 0 — Chattopadhay et al., "Grad-CAM++", WACV 2018, eq. 19 (the closed form for an
 *                       exponential score, whose higher derivatives are powers of the first); ε = 1e-6 and the
 *                       zeroing where g = 0 are pytorch-grad-cam's defaults (grad_cam_plusplus.py).
 *   xgrad-cam           w_k = Σ_u g_uk x_uk / (Σ_u x_uk + 1e-7) — Fu et al., "Axiom-based Grad-CAM", BMVC 2020,
 *                       eq. 11; ε = 1e-7 as pytorch-grad-cam's xgrad_cam.py.
 * Sums run over each image's positions. x, g: [N, H, W, C]; weights [N, 1, 1, C]. Call inside tf.tidy.
 */
import { type Tensor, tf } from "../runtime/tf.ts";

const GRAD_CAM_PP_EPS = 1e-6;
const XGRAD_CAM_EPS = 1e-7;

export function gradCamPlusPlusWeights(x: Tensor, g: Tensor): Tensor {
  const g2 = tf.square(g);
  const g3 = tf.mul(g2, g);
  const sumX = tf.sum(x, [1, 2], true);
  const alpha = tf.div(g2, tf.add(tf.add(tf.mul(g2, 2), tf.mul(sumX, g3)), GRAD_CAM_PP_EPS));
  const kept = tf.where(tf.notEqual(g, 0), alpha, tf.zerosLike(alpha));
  return tf.sum(tf.mul(tf.relu(g), kept), [1, 2], true);
}

export function xGradCamWeights(x: Tensor, g: Tensor): Tensor {
  return tf.div(tf.sum(tf.mul(g, x), [1, 2], true), tf.add(tf.sum(x, [1, 2], true), XGRAD_CAM_EPS));
}

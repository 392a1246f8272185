/**
 * Gradient kernels for the tfjs 4.22 wasm backend: registers the convolution backprop kernels that wasm lacks
 * (Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropInput/Filter) and replaces the one it has but runs as
 * a naive loop (Conv2DBackpropInput), all built from fast ordinary tf ops (XNNPACK forward convs, plain
 * matMuls, rank-4 transposes, heap-to-heap slices). Call `registerWasmGradientKernels()` once per runtime
 * (process or worker), after lib/runtime/tf.ts has imported the wasm backend, preferably before
 * `tf.setBackend("wasm")`.
 * `setWasmGradientFilterCache(true)` additionally caches prepared filters (worth it for served weights).
 *
 * Audit (tfjs 4.22, wasm, Deno 2.9.6: tf.grad run through each op on wasm and compared with cpu in
 * tests/wasm_grad_kernels_test.ts). Kernels the backward pass of a VGG / ResNet forward needs on wasm:
 *   conv2d     Conv2DBackpropInput   present but a naive loop (~10x slower): REPLACED here
 *              Conv2DBackpropFilter  MISSING: registered here
 *   depthwise  DepthwiseConv2dNativeBackpropInput / ...Filter  MISSING: registered here
 *   relu       Step, Cast, Multiply                          present
 *   maxPool    MaxPoolGrad                                   present but routes ties to the LAST maximum
 *              (PyTorch and tfjs cpu: the first): REPLACED here (lib/runtime/wasm_maxpool_grad.ts)
 *   avgPool    AvgPoolGrad                                   present
 *   batchNorm  Sub, Multiply, Rsqrt, Add, Tile, Sum, Reshape  present
 *   add        Sum, Reshape (broadcast reduction)            present
 *   matMul     BatchMatMul with transposeA / transposeB      present, but the flagged path is slow on wasm
 *              (4096x4096 FC: dx 27 ms, dW 50 ms, vs 3 ms forward); a forward kernel, not replaced here
 *   reshape    Reshape;  transpose  Transpose                present
 *   mean       Reshape, Fill (ones), Multiply, RealDiv       present
 *   slice      PadV2;  pad  Slice;  concat  SplitV           present (the wasm Slice kernel, which SplitV
 *              also uses, copies its WHOLE input out to JS on every call: ~10 ms at 114x114x64; not replaced)
 *   tf.grad    Fill (ones seed), Add (accumulation)          present
 * Nothing else is missing for these ops (also missing on wasm, unused by these nets: Einsum,
 * UnsortedSegmentSum, the FFT family).
 *
 * Dilation: tfjs-core refuses the gradient of a dilated conv2d / depthwiseConv2d before any kernel runs, and
 * its Conv2DBackprop* attrs carry no dilations; these kernels honour an optional `dilations` attr anyway, for
 * custom gradients that call them through `tf.engine().runKernel`.
 */
import { tf } from "./tf.ts";
import { heapSlice } from "./wasm_heap.ts";
import { maxPoolGradFirstMaxKernel } from "./wasm_maxpool_grad.ts";
import { KernelOverrides } from "./kernel_overrides.ts";

type Tensor = tf.Tensor;
type Tensor4D = tf.Tensor4D;
type PadAttr = "valid" | "same" | number | [
  [number, number],
  [number, number],
  [number, number],
  [number, number],
];
type RoundingMode = "floor" | "round" | "ceil";
type Conv2DInfo = ReturnType<typeof tf.backend_util.computeConv2DInfo>;
type Shape4 = [number, number, number, number];

const BACKEND = "wasm";

// ---------------------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------------------

/** The kernel inputs are Tensors when they come from ops; wrap a bare TensorInfo just in case. */
function asTensor<T extends Tensor>(info: tf.TensorInfo | undefined): T {
  if (info == null) throw new Error("wasm gradient kernel: missing input tensor");
  return (info instanceof tf.Tensor ? info : tf.engine().makeTensorFromTensorInfo(info)) as T;
}

function requireNHWC(kernel: string, dataFormat: unknown): void {
  if (dataFormat != null && dataFormat !== "NHWC") {
    throw new Error(
      `${kernel} (wasm, lib/runtime/wasm_grad_kernels.ts): dataFormat '${dataFormat}' is not supported; ` +
        `only 'NHWC' is.`,
    );
  }
}

function convInfo(
  kernel: string,
  inShape: Shape4,
  filterShape: Shape4,
  strides: number | [number, number],
  dilations: number | [number, number] | undefined,
  pad: PadAttr,
  dimRoundingMode: RoundingMode | undefined,
  depthwise: boolean,
  dyShape: number[],
): Conv2DInfo {
  const info = tf.backend_util.computeConv2DInfo(
    inShape,
    filterShape,
    strides,
    dilations ?? 1,
    pad,
    dimRoundingMode,
    depthwise,
    "channelsLast",
  );
  const expected = info.outShape;
  if (dyShape.length === 4 && dyShape.every((d, i) => d === expected[i])) return info;
  const numericPad = typeof pad === "number" || Array.isArray(pad);
  if (numericPad && dyShape.length === 4 && dyShape[0] === expected[0] && dyShape[3] === expected[3]) {
    // A forward conv with a dimRoundingMode: tfjs-core's conv gradients do not pass the mode on, so dy's
    // spatial size is the one to trust (outputs past the padded input read zeros).
    return {
      ...info,
      outHeight: dyShape[1],
      outWidth: dyShape[2],
      outShape: [dyShape[0], dyShape[1], dyShape[2], dyShape[3]],
    };
  }
  throw new Error(
    `${kernel} (wasm): dy has shape [${dyShape}] but the forward conv of an input of shape [${inShape}] ` +
      `with filter [${filterShape}] produces [${expected}].`,
  );
}

/**
 * A window along two spatial axes (1 and 2) of a rank-4 tensor: rows `start .. start+length-1` (start may be
 * negative, and the window may run past the end), zero-filled where it leaves the tensor. Returns the cropped
 * tensor and the zero padding still to apply, so that a conv can take the padding as an explicit attr.
 */
function windowPlan(
  x: Tensor4D,
  rows: [number, number],
  cols: [number, number],
): { cropped: Tensor4D; pads: [[number, number], [number, number]] } {
  const plan = (dim: number, start: number, length: number) => {
    const before = Math.max(0, -start);
    const begin = Math.max(0, start);
    const available = Math.max(0, dim - begin);
    const need = Math.max(0, length - before);
    const take = Math.min(available, need);
    return { before, begin, take, after: need - take };
  };
  const r = plan(x.shape[1], rows[0], rows[1]);
  const c = plan(x.shape[2], cols[0], cols[1]);
  const cropped = r.begin === 0 && c.begin === 0 && r.take === x.shape[1] && c.take === x.shape[2]
    ? x
    : heapSlice(x, [0, r.begin, c.begin, 0], [x.shape[0], r.take, c.take, x.shape[3]]);
  return { cropped, pads: [[r.before, r.after], [c.before, c.after]] };
}

/** `windowPlan`, with the zero padding applied. */
function windowOf(x: Tensor4D, rows: [number, number], cols: [number, number]): Tensor4D {
  const { cropped, pads } = windowPlan(x, rows, cols);
  if (pads[0][0] === 0 && pads[0][1] === 0 && pads[1][0] === 0 && pads[1][1] === 0) return cropped;
  return tf.pad(cropped, [[0, 0], pads[0], pads[1], [0, 0]]);
}

/**
 * Inserts stride-1 zeros after every row / column: [N, H, W, C] -> [N, H*sh, W*sw, C] (trailing zeros kept).
 * Two rank-4 pads (higher-rank pads and transposes take slow generic paths on wasm).
 */
function zeroStuff(x: Tensor4D, sh: number, sw: number): Tensor4D {
  if (sh === 1 && sw === 1) return x;
  const [n, h, w, c] = x.shape;
  let out: Tensor = x;
  if (sh > 1) out = tf.pad(tf.reshape(out, [n * h, 1, w, c]), [[0, 0], [0, sh - 1], [0, 0], [0, 0]]);
  if (sw > 1) out = tf.pad(tf.reshape(out, [n * h * sh, w, 1, c]), [[0, 0], [0, 0], [0, sw - 1], [0, 0]]);
  return tf.reshape(out, [n, h * sh, w * sw, c]);
}

/**
 * Picks filter taps: `flat` is a filter as [kh*kw, rest]; returns the listed taps, in order, as
 * [rows, cols, ...restShape]. Row slices and a concat: tf.gather and tf.reverse are very slow on wasm.
 */
function pickTaps(
  flat: tf.Tensor2D,
  taps: number[],
  rows: number,
  cols: number,
  restShape: number[],
): Tensor4D {
  const shape = [rows, cols, ...restShape] as Shape4;
  if (taps.every((t, i) => t === i) && taps.length === flat.shape[0]) return tf.reshape(flat, shape);
  const pieces = taps.map((t) => heapSlice(flat, [t, 0], [1, flat.shape[1]]));
  return tf.reshape(pieces.length === 1 ? pieces[0] : tf.concat(pieces, 0), shape);
}

/** Rows / columns of the (padded) input that the forward conv reads: start offset and length. */
function inputWindow(info: Conv2DInfo): { rows: [number, number]; cols: [number, number] } {
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const rowsLen = (info.outHeight - 1) * sh + (info.filterHeight - 1) * dh + 1;
  const colsLen = (info.outWidth - 1) * sw + (info.filterWidth - 1) * dw + 1;
  return { rows: [-info.padInfo.top, rowsLen], cols: [-info.padInfo.left, colsLen] };
}

/**
 * The forward conv's input window split into stride phases, so that every filter tap reads a plain
 * (unstrided) slice: tf.stridedSlice is ~20x slower on wasm. Layout [sw*sh*N, Hq, Wq, C] (phase (py, px) at
 * rows (px*sh + py)*N ...), or channels first [C, sw*sh*N, Hq, Wq]; rank-4 transposes only (rank 5 and 6
 * take a slow generic path). `tap(ky, kx)` returns the slice that tap (ky, kx) meets: [N, Ho, Wo, C], or
 * [C, N, Ho, Wo] channels first.
 */
function phaseTaps(
  x: Tensor4D,
  info: Conv2DInfo,
  channelsFirst: boolean,
): (ky: number, kx: number) => Tensor4D {
  const { strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo, batchSize: n } = info;
  const c = x.shape[3];
  const { rows, cols } = inputWindow(info);
  const hq = Math.ceil(rows[1] / sh);
  const wq = Math.ceil(cols[1] / sw);
  let t: Tensor = windowOf(x, [rows[0], hq * sh], [cols[0], wq * sw]);
  // Rows to [py][n, hq][wq][px, c], then columns to [px][py, n, hq][wq][c].
  if (sh > 1) t = tf.transpose(tf.reshape(t, [n * hq, sh, wq, sw * c]), [1, 0, 2, 3]);
  if (sw > 1) t = tf.transpose(tf.reshape(t, [sh * n * hq, wq, sw, c]), [2, 0, 1, 3]);
  const phases = tf.reshape<tf.Rank.R4>(t, [sw * sh * n, hq, wq, c]);
  const layout: Tensor4D = channelsFirst ? tf.transpose(phases, [3, 0, 1, 2]) : phases;
  return (ky, kx) => {
    const y0 = ky * info.dilationHeight;
    const x0 = kx * info.dilationWidth;
    const b = ((x0 % sw) * sh + (y0 % sh)) * n;
    const yq = Math.floor(y0 / sh);
    const xq = Math.floor(x0 / sw);
    return channelsFirst
      ? heapSlice(layout, [0, b, yq, xq], [c, n, ho, wo])
      : heapSlice(layout, [b, yq, xq, 0], [n, ho, wo, c]);
  };
}

type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];
/** Runs a forward conv (stride 1) of `x` with filter `f` ([mh, mw, in, out]), explicit padding, dilation. */
type ForwardConv = (x: Tensor4D, f: Tensor4D, pad: ExplicitPad, dilations: [number, number]) => Tensor4D;
/** Returns the listed taps (ky*kw + kx) of the in/out-transposed filter as [rows, cols, in, out]. */
type TapPicker = (taps: number[], rows: number, cols: number) => Tensor4D;

/**
 * The input gradient of a conv as forward convs (XNNPACK) of dy with the rotated, in/out-transposed filter.
 * Dilation 1: one conv per stride phase (py, px), each with the sub-filter of taps ky = py + sh*m, rotated,
 * then the phases interleaved; no multiply by a stuffed zero. Dilation > 1: dy zero-stuffed by the stride and
 * one dilated conv with the whole rotated filter. Either way a window of dy (start k-1-pad) via explicit
 * padding, and the result has exactly the input's spatial size.
 */
function inputGradViaForwardConv(
  dy: Tensor4D,
  info: Conv2DInfo,
  channels: number,
  pick: TapPicker,
  conv: ForwardConv,
): Tensor4D {
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const { dilationHeight: dh, dilationWidth: dw, inHeight: h, inWidth: w, batchSize: n } = info;
  const { top, left } = info.padInfo;
  const reversed = (count: number, first: (i: number) => number) =>
    Array.from({ length: count }, (_, i) => first(count - 1 - i));
  if (dh > 1 || dw > 1) {
    const stuffed = zeroStuff(dy, sh, sw);
    const taps = reversed(kh, (ky) => ky).flatMap((ky) => reversed(kw, (kx) => ky * kw + kx));
    const { cropped, pads } = windowPlan(
      stuffed,
      [top - (kh - 1) * dh, h + (kh - 1) * dh],
      [left - (kw - 1) * dw, w + (kw - 1) * dw],
    );
    return conv(cropped, pick(taps, kh, kw), [[0, 0], pads[0], pads[1], [0, 0]], [dh, dw]);
  }
  // Output row i is phase py = (i + top) mod sh, index j = floor((i + top) / sh); j runs over j0..j0+jn-1.
  const j0 = Math.floor(top / sh);
  const jn = Math.floor((top + h - 1) / sh) - j0 + 1;
  const i0 = Math.floor(left / sw);
  const inCount = Math.floor((left + w - 1) / sw) - i0 + 1;
  const rowsOfPhases: Tensor[] = [];
  for (let py = 0; py < sh; py++) {
    const colsOfPhases: Tensor[] = [];
    const mh = Math.ceil((kh - py) / sh);
    for (let px = 0; px < sw; px++) {
      const mw = Math.ceil((kw - px) / sw);
      if (mh <= 0 || mw <= 0) {
        colsOfPhases.push(tf.zeros([n, jn, inCount, channels]));
        continue;
      }
      const taps = reversed(mh, (m) => py + sh * m).flatMap((ky) =>
        reversed(mw, (m) => ky * kw + px + sw * m)
      );
      const { cropped, pads } = windowPlan(dy, [j0 - (mh - 1), jn + mh - 1], [
        i0 - (mw - 1),
        inCount + mw - 1,
      ]);
      colsOfPhases.push(conv(cropped, pick(taps, mh, mw), [[0, 0], pads[0], pads[1], [0, 0]], [1, 1]));
    }
    rowsOfPhases.push(
      sw === 1 ? colsOfPhases[0] : tf.reshape(tf.stack(colsOfPhases, 3), [n, jn, inCount * sw, channels]),
    );
  }
  const interleaved = sh === 1
    ? rowsOfPhases[0] as Tensor4D
    : tf.reshape<tf.Rank.R4>(tf.stack(rowsOfPhases, 2), [n, jn * sh, inCount * sw, channels]);
  return windowOf(interleaved, [top - j0 * sh, h], [left - i0 * sw, w]);
}

// ---------------------------------------------------------------------------------------------------------
// Prepared-filter cache (opt-in)
// ---------------------------------------------------------------------------------------------------------

/**
 * Prepared filters (in/out-transposed, rotated, split by stride phase) by the source filter's dataId, then
 * by recipe. Preparing a deep layer's filter on each call costs more than its conv (ResNet50 3x3 512->512 at
 * 7x7: 44 ms instead of 7.6): the transpose, and XNNPACK repacking a filter it has not seen (its operator
 * cache is keyed by the filter tensor). Off by default: cached copies count in tf.memory(), take wasm heap.
 */
const filterCache = new Map<object, Map<string, Tensor>>();
let filterCacheEnabled = false;

/**
 * Turns the prepared-filter cache on or off (off clears it). Worth it when the same weights serve many
 * gradient passes (a saliency service): an entry lives until its source filter is disposed (checked on the
 * next kernel call) or `clearWasmGradientFilterCache()` runs.
 */
export function setWasmGradientFilterCache(enabled: boolean): void {
  filterCacheEnabled = enabled;
  if (!enabled) clearWasmGradientFilterCache();
}

/** Disposes every cached prepared filter; returns how many tensors it disposed. */
export function clearWasmGradientFilterCache(): number {
  let count = 0;
  for (const entries of filterCache.values()) {
    for (const tensor of entries.values()) {
      tensor.dispose();
      count++;
    }
  }
  filterCache.clear();
  return count;
}

/** Drops the entries whose source filter has been disposed. */
function sweepFilterCache(): void {
  const backend = tf.findBackend(BACKEND);
  if (backend == null || filterCache.size === 0) return;
  for (const [dataId, entries] of filterCache) {
    if (backend.refCount(dataId) > 0) continue;
    for (const tensor of entries.values()) tensor.dispose();
    filterCache.delete(dataId);
  }
}

/** `make()`, or its cached result for this filter and recipe when the cache is on. */
function prepared<T extends Tensor>(filter: Tensor, recipe: string, make: () => T): T {
  if (!filterCacheEnabled) return make();
  const entries = filterCache.get(filter.dataId) ?? new Map<string, Tensor>();
  const hit = entries.get(recipe);
  if (hit != null && !hit.isDisposed) return hit as T;
  const made = make();
  if (made.dataId === filter.dataId) return made; // a mere reshape: caching it would pin the source
  entries.set(recipe, tf.keep(made));
  filterCache.set(filter.dataId, entries);
  return made;
}

// ---------------------------------------------------------------------------------------------------------
// Conv2D
// ---------------------------------------------------------------------------------------------------------

interface Conv2DBackpropAttrs {
  strides: number | [number, number];
  pad: PadAttr;
  dataFormat?: "NHWC" | "NCHW";
  dimRoundingMode?: RoundingMode;
  /** Not set by tfjs-core (it refuses dilated conv gradients); honoured when a caller passes it. */
  dilations?: number | [number, number];
}

/** dW[ky, kx, ci, co] = sum over positions of x[window tap (ky, kx)] * dy: one plain matMul per tap. */
export function conv2dBackpropFilterImpl(
  x: Tensor4D,
  dy: Tensor4D,
  filterShape: Shape4,
  attrs: Conv2DBackpropAttrs,
): Tensor4D {
  const kernel = "Conv2DBackpropFilter";
  requireNHWC(kernel, attrs.dataFormat);
  const info = convInfo(
    kernel,
    x.shape,
    filterShape,
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    dy.shape,
  );
  const [kh, kw, ci, co] = filterShape;
  if (x.shape[3] !== ci || dy.shape[3] !== co) {
    throw new Error(
      `${kernel} (wasm): channels of x [${x.shape}] / dy [${dy.shape}] do not match [${filterShape}].`,
    );
  }
  const positions = info.batchSize * info.outHeight * info.outWidth;
  const dyMat = tf.reshape(dy, [positions, co]);
  // Channels first, so that every tap slice reshapes straight to [Ci, positions] for a plain matMul.
  const tap = phaseTaps(x, info, true);
  const taps: Tensor[] = [];
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) taps.push(tf.matMul(tf.reshape(tap(ky, kx), [ci, positions]), dyMat));
  }
  return tf.reshape(taps.length === 1 ? taps[0] : tf.stack(taps), filterShape);
}

/** dx as forward convs of dy with the rotated, in/out-swapped filter (see inputGradViaForwardConv). */
export function conv2dBackpropInputImpl(
  dy: Tensor4D,
  filter: Tensor4D,
  inputShape: Shape4,
  attrs: Conv2DBackpropAttrs,
): Tensor4D {
  const kernel = "Conv2DBackpropInput";
  requireNHWC(kernel, attrs.dataFormat);
  const info = convInfo(
    kernel,
    inputShape,
    filter.shape,
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    dy.shape,
  );
  const [kh, kw, ci, co] = filter.shape;
  if (inputShape[3] !== ci) {
    throw new Error(`${kernel} (wasm): input shape [${inputShape}] does not match filter [${filter.shape}].`);
  }
  const { batchSize: n, outHeight: ho, outWidth: wo, strideHeight: sh, strideWidth: sw } = info;
  sweepFilterCache();
  if (kh === 1 && kw === 1) {
    // Each output position reads one input position: dx at the strided positions is dy @ W^T. Transpose the
    // smaller side explicitly (flagged matMuls are ~10x slower on wasm): W, or dy and the result.
    const positions = n * ho * wo;
    const dyMat = tf.reshape(dy, [positions, co]);
    const wMat = tf.reshape(filter, [ci, co]);
    const g = ci * co <= positions * (ci + co)
      ? tf.matMul(dyMat, prepared(filter, "conv2d:1x1T", () => tf.transpose(wMat)))
      : tf.transpose(tf.matMul(wMat, tf.transpose(dyMat)));
    const stuffed = zeroStuff(tf.reshape(g, [n, ho, wo, ci]), sh, sw);
    return windowOf(stuffed, [info.padInfo.top, info.inHeight], [info.padInfo.left, info.inWidth]);
  }
  // The filter with in/out swapped, flattened per tap: [kh*kw, Co*Ci]; made only if the cache misses.
  let flat: tf.Tensor2D | null = null;
  const transposed = () =>
    flat ??= tf.reshape<tf.Rank.R2>(tf.transpose(tf.reshape(filter, [kh * kw, ci, co]), [0, 2, 1]), [
      kh * kw,
      co * ci,
    ]);
  return inputGradViaForwardConv(
    dy,
    info,
    ci,
    (taps, rows, cols) =>
      prepared(
        filter,
        `conv2d:${rows}x${cols}:${taps}`,
        () => pickTaps(transposed(), taps, rows, cols, [co, ci]),
      ),
    (x, f, pad, dilations) => tf.conv2d(x, f, 1, pad, "NHWC", dilations),
  );
}

// ---------------------------------------------------------------------------------------------------------
// DepthwiseConv2dNative (filter [kh, kw, Ci, m], output channel c*m + j)
// ---------------------------------------------------------------------------------------------------------

interface DepthwiseBackpropAttrs {
  strides: number | [number, number];
  pad: PadAttr;
  dimRoundingMode?: RoundingMode;
  dilations?: number | [number, number];
}

/** dW[ky, kx, c, j] = sum over positions of x[tap (ky, kx), c] * dy[c*m + j]: a multiply, a sum per tap. */
export function depthwiseBackpropFilterImpl(
  x: Tensor4D,
  dy: Tensor4D,
  filterShape: Shape4,
  attrs: DepthwiseBackpropAttrs,
): Tensor4D {
  const kernel = "DepthwiseConv2dNativeBackpropFilter";
  const info = convInfo(
    kernel,
    x.shape,
    filterShape,
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
    dy.shape,
  );
  const [kh, kw, ci, m] = filterShape;
  if (x.shape[3] !== ci) {
    throw new Error(`${kernel} (wasm): x [${x.shape}] does not match filter [${filterShape}].`);
  }
  const { batchSize: n, outHeight: ho, outWidth: wo } = info;
  const positions = n * ho * wo;
  const tap = phaseTaps(x, info, false);
  const dyGrouped = tf.reshape(dy, [positions, ci, m]);
  const taps: Tensor[] = [];
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      const product = tf.mul(tf.reshape(tap(ky, kx), [positions, ci, 1]), dyGrouped);
      taps.push(tf.sum(tf.reshape(product, [positions, ci * m]), 0));
    }
  }
  return tf.reshape(taps.length === 1 ? taps[0] : tf.stack(taps), filterShape);
}

/**
 * dx as forward depthwise convs (multiplier 1) of dy over all Ci*m channels with the rotated filter (see
 * inputGradViaForwardConv); for m > 1 the m channels of each input channel are then summed.
 */
export function depthwiseBackpropInputImpl(
  dy: Tensor4D,
  filter: Tensor4D,
  inputShape: Shape4,
  attrs: DepthwiseBackpropAttrs,
): Tensor4D {
  const kernel = "DepthwiseConv2dNativeBackpropInput";
  const info = convInfo(
    kernel,
    inputShape,
    filter.shape,
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
    dy.shape,
  );
  const [kh, kw, ci, m] = filter.shape;
  if (inputShape[3] !== ci) {
    throw new Error(`${kernel} (wasm): input shape [${inputShape}] does not match filter [${filter.shape}].`);
  }
  const flat = tf.reshape<tf.Rank.R2>(filter, [kh * kw, ci * m]);
  sweepFilterCache();
  const dx = inputGradViaForwardConv(
    dy,
    info,
    ci * m,
    (taps, rows, cols) =>
      prepared(
        filter,
        `depthwise:${rows}x${cols}:${taps}`,
        () => pickTaps(flat, taps, rows, cols, [ci * m, 1]),
      ),
    (x, f, pad, dilations) => tf.depthwiseConv2d(x, f, 1, pad, "NHWC", dilations),
  );
  if (m === 1) return dx;
  return tf.sum(tf.reshape(dx, [info.batchSize, info.inHeight, info.inWidth, ci, m]), 4);
}

// ---------------------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------------------

const kernelFuncs: Record<string, tf.KernelFunc> = {
  MaxPoolGrad: maxPoolGradFirstMaxKernel,
  Conv2DBackpropFilter: ({ inputs, attrs }) =>
    tf.tidy(() => {
      const a = attrs as unknown as Conv2DBackpropAttrs & { filterShape: Shape4 };
      return conv2dBackpropFilterImpl(asTensor(inputs.x), asTensor(inputs.dy), a.filterShape, a);
    }),
  Conv2DBackpropInput: ({ inputs, attrs }) =>
    tf.tidy(() => {
      const a = attrs as unknown as Conv2DBackpropAttrs & { inputShape: Shape4 };
      return conv2dBackpropInputImpl(asTensor(inputs.dy), asTensor(inputs.filter), a.inputShape, a);
    }),
  DepthwiseConv2dNativeBackpropFilter: ({ inputs, attrs }) =>
    tf.tidy(() => {
      const a = attrs as unknown as DepthwiseBackpropAttrs & { filterShape: Shape4 };
      return depthwiseBackpropFilterImpl(asTensor(inputs.x), asTensor(inputs.dy), a.filterShape, a);
    }),
  DepthwiseConv2dNativeBackpropInput: ({ inputs, attrs }) =>
    tf.tidy(() => {
      const a = attrs as unknown as DepthwiseBackpropAttrs & { inputShape: Shape4 };
      return depthwiseBackpropInputImpl(asTensor(inputs.dy), asTensor(inputs.filter), a.inputShape, a);
    }),
};

/** Ours in place of the stock kernels (of these only MaxPoolGrad and Conv2DBackpropInput exist on wasm). */
const overrides = new KernelOverrides(BACKEND, kernelFuncs);

/** The kernel names this module provides on wasm. */
export const WASM_GRADIENT_KERNELS: readonly string[] = overrides.names;

/**
 * Registers the wasm gradient kernels and returns their names. Idempotent: a kernel already ours is left as
 * is; a stock one is unregistered (and kept, see `restoreStockWasmKernels`) before ours is registered.
 */
export function registerWasmGradientKernels(): string[] {
  return overrides.register();
}

/** The stock wasm kernel that `registerWasmGradientKernels` replaced under this name, if any. */
export function stockWasmKernel(kernelName: string): tf.KernelConfig | undefined {
  return overrides.stock(kernelName);
}

/**
 * Undoes `registerWasmGradientKernels`: unregisters ours and puts the replaced stock kernels back (running
 * their setup if the wasm backend is already initialised). For benches and tests.
 */
export function restoreStockWasmKernels(): void {
  overrides.restore();
}

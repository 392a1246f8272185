/**
 * Typed errors of lib/saliency. Each message names what was wrong and what is valid, so routes/ can map
 * them to a 4xx answer once and a caller can act on them without parsing messages.
 */

/**
 * A saliency function was given input it cannot use: a tensor of the wrong rank, channel count or dtype,
 * a bad size, sigma, weight, weighting scheme or layer name, or arrays of mismatched lengths.
 */
export class SaliencyInputError extends Error {
  override name = "SaliencyInputError";
}

/** No method of that name; the message lists the valid ones. */
export class UnknownMethodError extends SaliencyInputError {
  override name = "UnknownMethodError";
}

/** A backward-rule set (excitation backprop) is not defined for an op of the network; the message names it. */
export class UnsupportedRuleError extends SaliencyInputError {
  override name = "UnsupportedRuleError";
}

/**
 * Typed errors of lib/nets. Each names what was wrong and what is valid, so routes/ can map them to a 4xx
 * answer once and a caller of the library can act on them without parsing messages.
 */

/** A configuration value (architecture, width, input size, head, ...) is not one retrace supports. */
export class InvalidNetConfigError extends Error {
  override name = "InvalidNetConfigError";
}

/** A requested layer name does not exist in the network; `valid` lists every probe-able name. */
export class UnknownLayerError extends Error {
  override name = "UnknownLayerError";
  constructor(readonly unknown: string[], readonly valid: string[], what = "layer") {
    const names = unknown.map((n) => JSON.stringify(n)).join(", ");
    super(
      what === "layer"
        ? `unknown layer${unknown.length > 1 ? "s" : ""} ${names}; ` +
          `valid layers are "" (the input) and: ${valid.filter((n) => n !== "").join(", ")}`
        : `${names} ${unknown.length > 1 ? "are not" : "is not a"} ${what}${
          unknown.length > 1 ? "s" : ""
        }; ` +
          `valid: ${valid.join(", ")}`,
    );
  }
}

/** A requested parameter name (for a weight gradient) does not exist; `valid` lists the parameter names. */
export class UnknownParameterError extends Error {
  override name = "UnknownParameterError";
  constructor(readonly unknown: string[], readonly valid: string[]) {
    super(`unknown parameter(s) ${unknown.join(", ")}; valid parameters are: ${valid.join(", ")}`);
  }
}

/** One entry of a weights mismatch: the key and, for a shape mismatch, both shapes. */
export interface WeightsProblem {
  key: string;
  expected?: number[];
  got?: number[];
}

/** Strict weight loading failed; every missing, unexpected and mis-shaped key is listed together. */
export class WeightsMismatchError extends Error {
  override name = "WeightsMismatchError";
  constructor(
    readonly source: string,
    readonly missing: string[],
    readonly unexpected: string[],
    readonly mismatched: WeightsProblem[],
  ) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing keys (${missing.length}): ${missing.join(", ")}`);
    if (unexpected.length) parts.push(`unexpected keys (${unexpected.length}): ${unexpected.join(", ")}`);
    if (mismatched.length) {
      parts.push(
        `shape mismatches (${mismatched.length}): ` +
          mismatched.map((p) => `${p.key} expected [${p.expected}] got [${p.got}]`).join(", "),
      );
    }
    super(`weights from ${source} do not fit the network: ${parts.join("; ")}`);
  }
}

/** The input tensor has the wrong rank, channel count or a size the network cannot take. */
export class InvalidInputError extends Error {
  override name = "InvalidInputError";
}

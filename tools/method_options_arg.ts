/**
 * The command-line tools' --method-options: a JSON object with the fields of a saliency request's method
 * options (integratedGradients, rise, occlusion, noise; routes/v1_schemas.ts), checked by the same rules, each
 * field's defaults filled in, each for a method the run has. Example: --method-options '{"noise": {"kind": "smoothgrad", "samples": 20}}'.
 */
import { type MethodOptions, unusedOptions } from "../lib/models/method_request.ts";
import { methodByName } from "../lib/saliency/methods.ts";
import { MethodOptionsSchema } from "../routes/v1_schemas.ts";

export class MethodOptionsArgError extends Error {
  override name = "MethodOptionsArgError";
}

/** The options `text` gives (undefined: none), or a MethodOptionsArgError naming the field and its rule. */
export function parseMethodOptionsArg(text: string | undefined): MethodOptions | undefined {
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new MethodOptionsArgError(`--method-options is not JSON: ${(e as Error).message}`);
  }
  const parsed = MethodOptionsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length ? issue.path.join(".") : "(the object)";
    throw new MethodOptionsArgError(`--method-options ${where}: ${issue.message}`);
  }
  return parsed.data;
}

/** Refuses options for a method the run does not have, and a noise tunnel with meta-saliency. */
export function checkMethodOptionsFor(
  options: MethodOptions,
  methods: readonly string[],
  meta: boolean,
): void {
  for (const { field, method } of unusedOptions(options, methods.map((m) => methodByName(m).extract))) {
    throw new MethodOptionsArgError(
      `--method-options ${field}: applies to method ${method}, which --methods lacks`,
    );
  }
  if (options.noise && meta) {
    throw new MethodOptionsArgError("--method-options noise: a noise tunnel does not combine with --meta");
  }
}

/**
 * The named saliency methods as records (METHODS.md §3.4): which backward rules, which phase-1 extraction,
 * which phase-2 aggregation, and whether a ReLU follows. A method is data, not a program; any other
 * extraction x aggregation pair can be asked for directly.
 */
import type { Aggregation } from "./aggregate.ts";
import { UnknownMethodError } from "./errors.ts";
import type { Extraction } from "./extract.ts";
import type { RuleSetName } from "./rules.ts";

export interface MethodSpec {
  name: string;
  rules: RuleSetName;
  extract: Extraction;
  aggregate: Aggregation;
  /** relu after aggregation (Grad-CAM, contrastive excitation backprop). */
  relu: boolean;
  description: string;
}

const method = (
  name: string,
  rules: RuleSetName,
  extract: Extraction,
  aggregate: Aggregation,
  relu: boolean,
  description: string,
): MethodSpec => ({ name, rules, extract, aggregate, relu, description });

export const METHODS: readonly MethodSpec[] = [
  method("gradient", "standard", "bias", "max-abs", false, "max_k |g|"),
  method("gradient-sum", "standard", "bias", "sum", false, "Σ_k g"),
  method("guided", "guided", "bias", "max-abs", false, "max_k |g| under guided-backprop ReLUs"),
  method("guided-sum", "guided", "bias", "sum", false, "Σ_k g under guided-backprop ReLUs"),
  method("linear-approx", "standard", "scaling", "sum", false, "Σ_k x·g"),
  method("grad-cam", "standard", "gradcam-mean", "sum", true, "relu(Σ_k x_k · mean(g_k))"),
  method("excitation", "excitation", "bias", "sum", false, "Σ_k of the excitation-backprop signal"),
  method(
    "contrastive-excitation",
    "contrastive-excitation",
    "bias",
    "sum",
    true,
    "relu(Σ_k) of the contrastive excitation-backprop signal",
  ),
  method("normgrad", "standard", "identity-1x1", "norm", false, "‖x‖·‖g‖ (virtual identity trick)"),
  method("selective-normgrad", "standard", "scaling", "positive-norm", false, "‖relu(x ⊙ g)‖"),
  method(
    "normgrad-exact",
    "standard",
    "conv-exact",
    "norm",
    false,
    "‖unfold(x_in)‖·‖g_out‖ at a conv layer (no identity trick)",
  ),
];

const BY_NAME = new Map(METHODS.map((m) => [m.name, m]));

/** The method called `name`; UnknownMethodError listing every method otherwise. */
export function methodByName(name: string): MethodSpec {
  const m = BY_NAME.get(name);
  if (!m) {
    throw new UnknownMethodError(
      `unknown method ${JSON.stringify(name)}; valid: ${METHODS.map((x) => x.name).join(", ")}`,
    );
  }
  return m;
}

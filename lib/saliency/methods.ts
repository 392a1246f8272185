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
  /** relu after aggregation (Grad-CAM, contrastive excitation backprop, the CAM variants). */
  relu: boolean;
  description: string;
  /** The paper the method comes from. */
  reference: string;
  /**
   * Passes per map batch: forwards and backwards through the network; `perChannel`: one more forward per
   * channel of each explained layer (run several channels to a pass).
   */
  passes: { forward: number; backward: number; perChannel?: boolean };
}

const ONE_PASS: MethodSpec["passes"] = { forward: 1, backward: 1 };
const PAPER =
  "Rebuffi, Fong, Ji & Vedaldi, There and Back Again: Revisiting Backpropagation Saliency Methods, CVPR 2020";

const method = (
  name: string,
  rules: RuleSetName,
  extract: Extraction,
  aggregate: Aggregation,
  relu: boolean,
  description: string,
  reference: string,
  passes = ONE_PASS,
): MethodSpec => ({ name, rules, extract, aggregate, relu, description, reference, passes });

const SIMONYAN = "Simonyan, Vedaldi & Zisserman, Deep Inside Convolutional Networks, ICLR workshop 2014";
const SPRINGENBERG =
  "Springenberg, Dosovitskiy, Brox & Riedmiller, Striving for Simplicity, ICLR workshop 2015";
const GRAD_CAM = "Selvaraju et al., Grad-CAM: Visual Explanations from Deep Networks, ICCV 2017";
const EXCITATION =
  "Zhang, Lin, Brandt, Shen & Sclaroff, Top-down Neural Attention by Excitation Backprop, ECCV 2016";

/** The paper's methods (METHODS.md §3.4): one forward and one backward (two for contrastive EB) per map. */
export const PAPER_METHODS: readonly MethodSpec[] = [
  method("gradient", "standard", "bias", "max-abs", false, "max_k |g|", SIMONYAN),
  method("gradient-sum", "standard", "bias", "sum", false, "Σ_k g", PAPER),
  method("guided", "guided", "bias", "max-abs", false, "max_k |g| under guided-backprop ReLUs", SPRINGENBERG),
  method("guided-sum", "guided", "bias", "sum", false, "Σ_k g under guided-backprop ReLUs", PAPER),
  method("linear-approx", "standard", "scaling", "sum", false, "Σ_k x·g", PAPER),
  method("grad-cam", "standard", "gradcam-mean", "sum", true, "relu(Σ_k x_k · mean(g_k))", GRAD_CAM),
  method(
    "excitation",
    "excitation",
    "bias",
    "sum",
    false,
    "Σ_k of the excitation-backprop signal",
    EXCITATION,
  ),
  method(
    "contrastive-excitation",
    "contrastive-excitation",
    "bias",
    "sum",
    true,
    "relu(Σ_k) of the contrastive excitation-backprop signal",
    EXCITATION,
    { forward: 1, backward: 2 },
  ),
  method("normgrad", "standard", "identity-1x1", "norm", false, "‖x‖·‖g‖ (virtual identity trick)", PAPER),
  method("selective-normgrad", "standard", "scaling", "positive-norm", false, "‖relu(x ⊙ g)‖", PAPER),
  method(
    "normgrad-exact",
    "standard",
    "conv-exact",
    "norm",
    false,
    "‖unfold(x_in)‖·‖g_out‖ at a conv layer (no identity trick)",
    PAPER,
  ),
];

/** The methods beyond the paper (pytorch-grad-cam's CAMs, Captum's and TorchRay's attributions). */
export const BEYOND_PAPER_METHODS: readonly MethodSpec[] = [
  method(
    "deconvnet",
    "deconvnet",
    "bias",
    "max-abs",
    false,
    "max_k |g| under deconvnet ReLUs (grad_in = relu(grad_out))",
    "Zeiler & Fergus, Visualizing and Understanding Convolutional Networks, ECCV 2014",
  ),
  method(
    "grad-cam-plus-plus",
    "standard",
    "gradcam-plus-plus",
    "sum",
    true,
    "relu(Σ_k w_k x_k), w_k = Σ_u relu(g_uk)·g_uk² / (2g_uk² + Σ_u' x_u'k·g_uk³ + 1e-6)",
    "Chattopadhay, Sarkar, Howlader & Balasubramanian, Grad-CAM++, WACV 2018",
  ),
  method(
    "xgrad-cam",
    "standard",
    "xgradcam",
    "sum",
    true,
    "relu(Σ_k w_k x_k), w_k = Σ_u g_uk x_uk / (Σ_u x_uk + 1e-7)",
    "Fu et al., Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of CNNs, BMVC 2020",
  ),
  method(
    "hires-cam",
    "standard",
    "scaling",
    "sum",
    true,
    "relu(Σ_k x_k·g_k)",
    "Draelos & Carin, Use HiResCAM instead of Grad-CAM for faithful explanations, arXiv 2011.08891, 2020",
  ),
  method(
    "layer-cam",
    "standard",
    "positive-scaling",
    "sum",
    true,
    "relu(Σ_k x_k·relu(g_k))",
    "Jiang, Zhang, Hou, Cheng & Wei, LayerCAM: Exploring Hierarchical Class Activation Maps, IEEE TIP 2021",
  ),
  method(
    "eigen-cam",
    "standard",
    "principal-component",
    "sum",
    true,
    "relu((x_u − mean x)·v₁), v₁ the first principal direction of the layer's activations (no gradient, " +
      "any target gives the same map)",
    "Muhammad & Yeasin, Eigen-CAM: Class Activation Map using Principal Components, IJCNN 2020",
    { forward: 1, backward: 0 },
  ),
  method(
    "integrated-gradients",
    "standard",
    "path-integral",
    "sum",
    false,
    "Σ_k (A(x) − A(x'))_k · Σ_j w_j ∂S/∂A_k at A(x') + α_j (A(x) − A(x')): 50 Gauss-Legendre points by " +
      "default, baseline 0 (Captum's); at a layer the path runs in its activations (Captum's layer IG)",
    "Sundararajan, Taly & Yan, Axiomatic Attribution for Deep Networks, ICML 2017",
    { forward: 51, backward: 50 },
  ),
  method(
    "rise",
    "standard",
    "random-masks",
    "sum",
    false,
    "Σ_i P(target | x ⊙ M_i)·M_i / (N·p) over N random masks (7x7 Bernoulli(0.5) grids, bilinearly upsampled, " +
      "randomly shifted; 8000 masks, 32 a pass, seed 0: TorchRay's defaults); the input only",
    "Petsiuk, Das & Saenko, RISE: Randomized Input Sampling for Explanation of Black-box Models, BMVC 2018",
    { forward: 8001, backward: 0 },
  ),
  method(
    "occlusion",
    "standard",
    "occlusion",
    "sum",
    false,
    "mean over the 15x15 patches (stride 8, Captum's tutorial values) covering a pixel of S(x) − S(x with the " +
      "patch set to 0); the input only",
    "Zeiler & Fergus, Visualizing and Understanding Convolutional Networks, ECCV 2014",
    { forward: 730, backward: 0 },
  ),
  method(
    "full-grad",
    "standard",
    "full-gradient",
    "sum",
    false,
    "Σ_c ψ(∇ₓS ⊙ x) + Σ over conv / batch-norm modules of Σ_c up(ψ(∇_z S ⊙ b)), ψ = |·| min-max normalised " +
      "(the authors' implementation); the input only",
    "Srinivas & Fleuret, Full-Gradient Representation for Neural Network Visualization, NeurIPS 2019",
  ),
  method(
    "score-cam",
    "standard",
    "score-weights",
    "sum",
    true,
    "relu(Σ_k w_k x_k), w = softmax_k of the target's score on the input masked by channel k (upsampled, " +
      "min-max normalised); 16 channels per forward pass",
    "Wang et al., Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks, CVPR-W 2020",
    { forward: 1, backward: 0, perChannel: true },
  ),
  method(
    "ablation-cam",
    "standard",
    "ablation-weights",
    "sum",
    true,
    "relu(Σ_k w_k x_k), w_k = (s − s_k) / s, s_k the target's score with channel k set to 0; 32 channels per " +
      "forward pass",
    "Desai & Ramaswamy, Ablation-CAM: Visual Explanations for Deep Convolutional Network via Gradient-free " +
      "Localization, WACV 2020",
    { forward: 1, backward: 0, perChannel: true },
  ),
];

export const METHODS: readonly MethodSpec[] = [...PAPER_METHODS, ...BEYOND_PAPER_METHODS];

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

/**
 * The GPU kit's fidelity check: the webgpu tests bundled into one file (bench/gpu/prepare.sh), so a GPU host
 * without node_modules runs them — the PyTorch fixtures' forward and gradients, the first-max MaxPoolGrad,
 * the binding-limit split, every saliency method and the captioner (features, log-probabilities, gradients
 * through the LSTM, decoding) and the imported ONNX graphs of twelve torchvision architectures (logits,
 * activations, gradients, excitation maps) against PyTorch (RETRACE_TEST_BACKEND=webgpu). The bundle sits in .gpu/tests/
 * beside a copy of tests/fixtures/, where the tests look for their fixtures.
 */
import "../../tests/webgpu_test.ts";
import "../../tests/maxpool_grad_test.ts";
import "../../tests/saliency_fixtures_test.ts";
import "../../tests/caption_test.ts";
import "../../tests/onnx_torchvision_test.ts";

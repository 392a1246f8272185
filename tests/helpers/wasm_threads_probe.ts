/**
 * Subprocess for tests/wasm_threads_test.ts (threads are set once per runtime, before the backend starts): starts
 * the wasm backend with RETRACE_WASM_THREADS from the environment, computes a forward pass, an input gradient
 * and a Grad-CAM map of a width-1/4 ResNet18 with fixed random weights, and prints one JSON line with the
 * threads in use and the numbers.
 */
import { initBackend } from "../../lib/runtime/backend.ts";
import { tf } from "../../lib/runtime/tf.ts";
import { buildNetwork } from "../../lib/nets/network.ts";
import { randomWeights } from "../../lib/nets/weights.ts";
import { runProbed } from "../../lib/nets/probes.ts";
import { computeSaliency } from "../../lib/saliency/saliency.ts";

const info = await initBackend("wasm");
const net = buildNetwork({ arch: "resnet18", width: 0.25, numClasses: 10 });
const weights = randomWeights(net, 3);
const input = tf.randomNormal([1, 96, 96, 3], 0, 1, "float32", 5);
const forward = runProbed(net, weights, input);
const logits = Array.from(await forward.output.data());
forward.dispose();
const seed = { kind: "one-hot" as const, targets: [2] };
const grad = computeSaliency(net, weights, input, { method: "gradient", layers: [""], seed });
const gradMap = Array.from(await grad.maps.get("")!.data());
grad.dispose();
const cam = computeSaliency(net, weights, input, { method: "grad-cam", layers: ["layer3"], seed });
const camMap = Array.from(await cam.maps.get("layer3")!.data());
cam.dispose();
console.log(JSON.stringify({ threads: info.wasmThreads, logits, gradMap, camMap }));
Deno.exit(0);

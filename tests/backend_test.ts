/**
 * Backend choice: RETRACE_BACKEND parsing, the auto rule (webgpu only on a hardware adapter), software-adapter
 * detection, and what this machine's real adapter (if any) is taken for.
 */
import assert from "node:assert/strict";
import {
  type AdapterDescription,
  BackendError,
  chooseBackend,
  isSoftwareAdapter,
  parseBackendPreference,
  probeAdapter,
} from "../lib/runtime/backend.ts";
import { thrown } from "./helpers/errors.ts";

function adapter(description: string, isFallbackAdapter = false): AdapterDescription {
  return {
    description,
    vendor: "",
    architecture: "",
    isFallbackAdapter,
    software: isSoftwareAdapter(description, "", isFallbackAdapter),
    maxStorageBufferBindingSize: 1 << 27,
    maxBufferSize: 1 << 31,
  };
}

Deno.test("RETRACE_BACKEND accepts auto|webgpu|wasm|cpu (any case, blank = auto) and names them otherwise", () => {
  assert.equal(parseBackendPreference(undefined), "auto");
  assert.equal(parseBackendPreference(""), "auto");
  assert.equal(parseBackendPreference(" WebGPU "), "webgpu");
  assert.equal(parseBackendPreference("wasm"), "wasm");
  const e = thrown(() => parseBackendPreference("cuda"), BackendError);
  assert.match(e.message, /auto, webgpu, wasm, cpu/);
  assert.match(e.message, /"cuda"/);
});

Deno.test("software adapters are recognised by name or by the fallback flag", () => {
  assert.ok(isSoftwareAdapter("llvmpipe (LLVM 15.0.6, 256 bits)", "", false));
  assert.ok(isSoftwareAdapter("Lavapipe", "", false));
  assert.ok(isSoftwareAdapter("Google SwiftShader", "", false));
  assert.ok(isSoftwareAdapter("Some GPU", "", true));
  assert.ok(!isSoftwareAdapter("NVIDIA H100 80GB HBM3", "", false));
});

Deno.test("auto takes webgpu only on a hardware adapter; explicit choices are kept", () => {
  assert.deepEqual(chooseBackend("auto", null), {
    backend: "wasm",
    reason: "auto: no WebGPU adapter available",
  });
  const llvm = chooseBackend("auto", adapter("llvmpipe (LLVM 15.0.6, 256 bits)"));
  assert.equal(llvm.backend, "wasm");
  assert.match(llvm.reason, /llvmpipe.*software/);
  assert.equal(chooseBackend("auto", adapter("Unknown", true)).backend, "wasm");
  const gpu = chooseBackend("auto", adapter("NVIDIA H100 80GB HBM3"));
  assert.equal(gpu.backend, "webgpu");
  assert.match(gpu.reason, /hardware.*H100/);
  assert.equal(chooseBackend("wasm", adapter("NVIDIA H100 80GB HBM3")).backend, "wasm");
  assert.equal(chooseBackend("webgpu", adapter("llvmpipe")).backend, "webgpu");
  assert.equal(chooseBackend("cpu", null).backend, "cpu");
  thrown(() => chooseBackend("webgpu", null), BackendError);
});

const machineAdapter = await probeAdapter();

Deno.test({
  name: machineAdapter
    ? "this machine's adapter is described consistently"
    : "this machine's adapter is described consistently [ignored: no WebGPU adapter here]",
  ignore: !machineAdapter,
}, () => {
  const a = machineAdapter!;
  assert.equal(a.software, isSoftwareAdapter(a.description, a.architecture, a.isFallbackAdapter));
  assert.ok(a.maxStorageBufferBindingSize > 0);
  assert.equal(chooseBackend("auto", a).backend, a.software ? "wasm" : "webgpu");
});

/**
 * Backend choice for one tfjs runtime (a process or a worker): RETRACE_BACKEND=auto|webgpu|wasm|cpu.
 * `auto` takes webgpu only on a hardware adapter (not llvmpipe, lavapipe, SwiftShader or a fallback
 * adapter), else wasm. Before wasm is selected, the gradient kernels it lacks are registered. On webgpu,
 * device errors (which tfjs otherwise swallows, e.g. a buffer bound over maxStorageBufferBindingSize
 * yields zeros) are collected and surfaced by assertNoDeviceErrors(). On wasm, RETRACE_WASM_THREADS (default 1)
 * threads per runtime (lib/runtime/wasm_threads.ts). Before any adapter request, Mesa's Vulkan device-selection
 * layer is kept from printing Wayland errors on hosts without a session (lib/runtime/mesa_device_select.ts).
 */
import { tf } from "./tf.ts";
import { registerWasmGradientKernels } from "./wasm_grad_kernels.ts";
import { registerWebgpuGradientKernels } from "./webgpu_maxpool_grad.ts";
import { MAX_WASM_THREADS, prepareWasmThreads, wasmThreadsInUse } from "./wasm_threads.ts";
import { quietMesaDeviceSelect } from "./mesa_device_select.ts";

export const BACKENDS = ["auto", "webgpu", "wasm", "cpu"] as const;
export type BackendPreference = typeof BACKENDS[number];
export type BackendName = Exclude<BackendPreference, "auto">;

/** Whether an adapter is a software rasteriser or a fallback adapter, from what it says about itself. */
export function isSoftwareAdapter(
  description: string,
  architecture: string,
  isFallbackAdapter: boolean,
): boolean {
  return isFallbackAdapter || SOFTWARE.test(`${description} ${architecture}`);
}

export interface AdapterDescription {
  description: string;
  vendor: string;
  architecture: string;
  isFallbackAdapter: boolean;
  /** True when the adapter is a software rasteriser (llvmpipe, lavapipe, SwiftShader) or a fallback adapter. */
  software: boolean;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

export interface BackendInfo {
  requested: BackendPreference;
  backend: BackendName;
  /** Why this backend was chosen, in words (shown at /healthz). */
  reason: string;
  /** The WebGPU adapter seen, if any (also when wasm was chosen over a software adapter). */
  adapter: AdapterDescription | null;
  /** Largest weight bound as one GPU buffer; Infinity off webgpu. */
  maxBindingBytes: number;
  /** Gradient kernels retrace registered for this backend. */
  registeredKernels: string[];
  /** Threads of the wasm backend (RETRACE_WASM_THREADS, lib/runtime/wasm_threads.ts); 1 on other backends. */
  wasmThreads: number;
}

/**
 * Whether the current backend reads tensors synchronously (dataSync). tfjs's webgpu backend does it through an
 * OffscreenCanvas 2D context, which Deno lacks ("Cannot read properties of null (reading 'clearRect')"): code
 * that must run everywhere reads with `await data()`, and a fast path that needs a synchronous read checks this.
 */
export function readsSynchronously(): boolean {
  return tf.getBackend() !== "webgpu";
}

export class BackendError extends Error {
  override name = "BackendError";
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software|softpipe/i;

/** Parses RETRACE_WASM_THREADS (default 1); throws BackendError naming the valid range. */
export function parseWasmThreads(value: string | undefined): number {
  const text = (value ?? "").trim();
  if (text === "") return 1;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WASM_THREADS) {
    throw new BackendError(
      `RETRACE_WASM_THREADS must be an integer in 1..${MAX_WASM_THREADS}; got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** Parses RETRACE_BACKEND (or a flag value); throws BackendError naming the valid values. */
export function parseBackendPreference(value: string | undefined): BackendPreference {
  const v = (value ?? "auto").trim().toLowerCase() || "auto";
  if (!(BACKENDS as readonly string[]).includes(v)) {
    throw new BackendError(
      `RETRACE_BACKEND must be one of ${BACKENDS.join(", ")}; got ${JSON.stringify(value)}`,
    );
  }
  return v as BackendPreference;
}

/** Asks Deno's WebGPU for an adapter and describes it; null when there is none. */
export async function probeAdapter(): Promise<AdapterDescription | null> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) return null;
  quietMesaDeviceSelect();
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch {
    return null;
  }
  if (!adapter) return null;
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const isFallbackAdapter = Boolean(
    info.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter,
  );
  const description = info.description || info.device || "unknown adapter";
  return {
    description,
    vendor: info.vendor,
    architecture: info.architecture,
    isFallbackAdapter,
    software: isSoftwareAdapter(description, info.architecture, isFallbackAdapter),
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
  };
}

const deviceErrors: string[] = [];
const watchedDevices = new WeakSet<GPUDevice>();

/** Throws (and clears) the WebGPU device errors seen since the last call; a no-op off webgpu. */
export function assertNoDeviceErrors(): void {
  if (deviceErrors.length === 0) return;
  const errors = deviceErrors.splice(0);
  throw new BackendError(`the WebGPU device reported ${errors.length} error(s): ${errors.join(" | ")}`);
}

/**
 * The decision alone (pure, for tests): `auto` takes webgpu only on a hardware adapter, else wasm; an explicit
 * choice is taken as is, except webgpu without any adapter, which is a BackendError.
 */
export function chooseBackend(
  requested: BackendPreference,
  adapter: AdapterDescription | null,
): { backend: BackendName; reason: string } {
  if (requested !== "auto") {
    if (requested === "webgpu" && !adapter) {
      throw new BackendError("RETRACE_BACKEND=webgpu but no WebGPU adapter exists");
    }
    return { backend: requested, reason: `RETRACE_BACKEND=${requested}` };
  }
  if (adapter && !adapter.software) {
    return { backend: "webgpu", reason: `auto: hardware WebGPU adapter "${adapter.description}"` };
  }
  const why = adapter
    ? `the WebGPU adapter "${adapter.description}" is software${
      adapter.isFallbackAdapter ? " (a fallback adapter)" : ""
    }, so wasm is faster`
    : "no WebGPU adapter available";
  return { backend: "wasm", reason: `auto: ${why}` };
}

/** Chooses, initialises and selects the backend of this runtime. */
export async function initBackend(
  requested: BackendPreference = parseBackendPreference(Deno.env.get("RETRACE_BACKEND")),
  wasmThreads: number = parseWasmThreads(Deno.env.get("RETRACE_WASM_THREADS")),
): Promise<BackendInfo> {
  const adapter = requested === "auto" || requested === "webgpu" ? await probeAdapter() : null;
  const { backend, reason } = chooseBackend(requested, adapter);
  const registeredKernels = backend === "wasm"
    ? registerWasmGradientKernels()
    : backend === "webgpu"
    ? registerWebgpuGradientKernels()
    : [];
  const started = backend === "wasm" ? prepareWasmThreads(wasmThreads) : () => {};
  try {
    if (!(await tf.setBackend(backend))) {
      throw new BackendError(`tfjs could not initialise the ${backend} backend`);
    }
  } finally {
    started();
  }
  await tf.ready();
  let maxBindingBytes = Infinity;
  if (backend === "webgpu") {
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    maxBindingBytes = device.limits.maxStorageBufferBindingSize;
    if (!watchedDevices.has(device)) {
      watchedDevices.add(device);
      device.addEventListener("uncapturederror", (e) => {
        deviceErrors.push((e as GPUUncapturedErrorEvent).error.message);
      });
    }
  }
  const threads = backend === "wasm" ? wasmThreadsInUse() : 1;
  return { requested, backend, reason, adapter, maxBindingBytes, registeredKernels, wasmThreads: threads };
}

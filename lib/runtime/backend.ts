/**
 * Backend choice for one tfjs runtime (a process or a worker): RETRACE_BACKEND=auto|webgpu|wasm|cpu.
 * `auto` takes webgpu only on a hardware adapter (not llvmpipe, lavapipe, SwiftShader or a fallback
 * adapter), else wasm. Before wasm is selected, the gradient kernels it lacks are registered. On webgpu,
 * device errors (which tfjs otherwise swallows, e.g. a buffer bound over maxStorageBufferBindingSize
 * yields zeros) are collected and surfaced by assertNoDeviceErrors().
 */
import { tf } from "./tf.ts";
import { registerWasmGradientKernels } from "./wasm_grad_kernels.ts";

export const BACKENDS = ["auto", "webgpu", "wasm", "cpu"] as const;
export type BackendPreference = typeof BACKENDS[number];
export type BackendName = Exclude<BackendPreference, "auto">;

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
}

export class BackendError extends Error {
  override name = "BackendError";
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software|softpipe/i;

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
    software: isFallbackAdapter || SOFTWARE.test(`${description} ${info.architecture}`),
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
  };
}

const deviceErrors: string[] = [];

/** Throws (and clears) the WebGPU device errors seen since the last call; a no-op off webgpu. */
export function assertNoDeviceErrors(): void {
  if (deviceErrors.length === 0) return;
  const errors = deviceErrors.splice(0);
  throw new BackendError(`the WebGPU device reported ${errors.length} error(s): ${errors.join(" | ")}`);
}

/** Chooses, initialises and selects the backend of this runtime. */
export async function initBackend(
  requested: BackendPreference = parseBackendPreference(Deno.env.get("RETRACE_BACKEND")),
): Promise<BackendInfo> {
  const adapter = requested === "auto" || requested === "webgpu" ? await probeAdapter() : null;
  let backend: BackendName;
  let reason: string;
  if (requested === "auto") {
    if (adapter && !adapter.software) {
      backend = "webgpu";
      reason = `auto: hardware WebGPU adapter "${adapter.description}"`;
    } else {
      backend = "wasm";
      reason = adapter
        ? `auto: the WebGPU adapter "${adapter.description}" is software${
          adapter.isFallbackAdapter ? " (a fallback adapter)" : ""
        }, so wasm is faster`
        : "auto: no WebGPU adapter available";
    }
  } else {
    backend = requested;
    reason = `RETRACE_BACKEND=${requested}`;
    if (requested === "webgpu" && !adapter) {
      throw new BackendError("RETRACE_BACKEND=webgpu but no WebGPU adapter exists");
    }
  }
  const registeredKernels = backend === "wasm" ? registerWasmGradientKernels() : [];
  if (!(await tf.setBackend(backend))) {
    throw new BackendError(`tfjs could not initialise the ${backend} backend`);
  }
  await tf.ready();
  let maxBindingBytes = Infinity;
  if (backend === "webgpu") {
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    maxBindingBytes = device.limits.maxStorageBufferBindingSize;
    device.addEventListener("uncapturederror", (e) => {
      deviceErrors.push((e as GPUUncapturedErrorEvent).error.message);
    });
  }
  return { requested, backend, reason, adapter, maxBindingBytes, registeredKernels };
}

/**
 * Replacing some of a tfjs backend's stock kernels with retrace's own, reversibly: `register` swaps ours in
 * (idempotent; the stock kernels are kept), `restore` puts the stock ones back (running their setup if that
 * backend is already initialised), `stock` hands one out for benches and tests. Used for the wasm gradient
 * kernels (wasm_grad_kernels.ts) and the webgpu MaxPoolGrad (webgpu_maxpool_grad.ts).
 */
import { tf } from "./tf.ts";

export class KernelOverrides {
  private readonly replaced = new Map<string, tf.KernelConfig>();

  constructor(
    readonly backendName: string,
    private readonly kernelFuncs: Readonly<Record<string, tf.KernelFunc>>,
  ) {}

  /** The kernel names this set provides. */
  get names(): string[] {
    return Object.keys(this.kernelFuncs);
  }

  /** Registers ours in place of the stock kernels and returns their names; a kernel already ours is left. */
  register(): string[] {
    for (const [kernelName, kernelFunc] of Object.entries(this.kernelFuncs)) {
      const current = tf.getKernel(kernelName, this.backendName);
      if (current?.kernelFunc === kernelFunc) continue;
      if (current != null) {
        this.replaced.set(kernelName, current);
        tf.unregisterKernel(kernelName, this.backendName);
      }
      tf.registerKernel({ kernelName, backendName: this.backendName, kernelFunc });
    }
    return this.names;
  }

  /** The stock kernel that `register` replaced under this name, if any. */
  stock(kernelName: string): tf.KernelConfig | undefined {
    return this.replaced.get(kernelName);
  }

  /** Undoes `register`: unregisters ours and puts the replaced stock kernels back. */
  restore(): void {
    for (const [kernelName, kernelFunc] of Object.entries(this.kernelFuncs)) {
      if (tf.getKernel(kernelName, this.backendName)?.kernelFunc !== kernelFunc) continue;
      tf.unregisterKernel(kernelName, this.backendName);
      const stock = this.replaced.get(kernelName);
      if (stock != null) {
        tf.registerKernel(stock);
        const backend = tf.findBackend(this.backendName);
        if (backend != null && stock.setupFunc != null) stock.setupFunc(backend);
      }
    }
  }
}

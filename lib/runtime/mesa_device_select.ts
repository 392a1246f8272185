/**
 * Keeps Mesa's Vulkan device-selection layer quiet on hosts without a desktop session. Debian's
 * mesa-vulkan-drivers installs VK_LAYER_MESA_device_select as an implicit layer: on every Vulkan instance (each
 * WebGPU adapter request) it asks the Wayland compositor which GPU is the default, and libwayland prints
 * `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` (twice per instance) when there is no
 * session to ask. There the layer has nothing to choose by, so it is switched off with its own documented switch
 * (NODEVICE_SELECT=1, read by the Vulkan loader when an instance is created) — unless the operator chose a device
 * through the layer (MESA_VK_DEVICE_SELECT, DRI_PRIME) or set NODEVICE_SELECT themselves.
 */

/** The variables read; Deno.env by default. */
export interface EnvAccess {
  get(name: string): string | undefined;
  set(name: string, value: string): void;
}

/**
 * Whether the layer should be switched off: no usable Wayland session (XDG_RUNTIME_DIR unset or not an absolute
 * path, which is libwayland's own test) and no choice made through the layer.
 */
export function shouldDisableDeviceSelect(env: Pick<EnvAccess, "get">): boolean {
  const runtimeDir = env.get("XDG_RUNTIME_DIR") ?? "";
  if (runtimeDir.startsWith("/")) return false;
  return ["NODEVICE_SELECT", "MESA_VK_DEVICE_SELECT", "DRI_PRIME"].every((name) =>
    env.get(name) === undefined
  );
}

/**
 * Sets NODEVICE_SELECT=1 when shouldDisableDeviceSelect says so (before the first adapter request); returns
 * whether it did. Without permission to write the environment it leaves things as they are.
 */
export function quietMesaDeviceSelect(env: EnvAccess = Deno.env): boolean {
  try {
    if (!shouldDisableDeviceSelect(env)) return false;
    env.set("NODEVICE_SELECT", "1");
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) return false;
    throw e;
  }
}

/**
 * Mesa's Vulkan device-selection layer (lib/runtime/mesa_device_select.ts): when it is switched off (no Wayland
 * session, no choice made through it), and that an adapter probe on a host with the layer installed prints
 * nothing. The probe test runs where the layer is installed (Debian's mesa-vulkan-drivers) or where
 * RETRACE_TEST_VULKAN_ROOT names an unpacked copy of libvulkan1 + mesa-vulkan-drivers (`apt-get download` them,
 * `dpkg -x` each into that folder); elsewhere it is ignored, with the reason in its name.
 */
import assert from "node:assert/strict";
import { quietMesaDeviceSelect, shouldDisableDeviceSelect } from "../lib/runtime/mesa_device_select.ts";

function env(vars: Record<string, string>) {
  const map = new Map(Object.entries(vars));
  return { map, get: (n: string) => map.get(n), set: (n: string, v: string) => void map.set(n, v) };
}

Deno.test("the layer is switched off only without a Wayland session and without a choice made through it", () => {
  assert.equal(shouldDisableDeviceSelect(env({})), true, "headless: nothing to ask");
  assert.equal(shouldDisableDeviceSelect(env({ XDG_RUNTIME_DIR: "" })), true);
  assert.equal(
    shouldDisableDeviceSelect(env({ XDG_RUNTIME_DIR: "run/user/0" })),
    true,
    "libwayland needs /...",
  );
  assert.equal(shouldDisableDeviceSelect(env({ XDG_RUNTIME_DIR: "/run/user/1000" })), false, "a session");
  assert.equal(
    shouldDisableDeviceSelect(env({ MESA_VK_DEVICE_SELECT: "10de:2335" })),
    false,
    "an explicit pick",
  );
  assert.equal(shouldDisableDeviceSelect(env({ DRI_PRIME: "1" })), false);
  assert.equal(shouldDisableDeviceSelect(env({ NODEVICE_SELECT: "0" })), false, "the operator's own setting");
});

Deno.test("quietMesaDeviceSelect sets NODEVICE_SELECT=1 when it should and leaves the environment alone otherwise", () => {
  const headless = env({ PATH: "/bin" });
  assert.equal(quietMesaDeviceSelect(headless), true);
  assert.equal(headless.map.get("NODEVICE_SELECT"), "1");
  const desktop = env({ XDG_RUNTIME_DIR: "/run/user/1000" });
  assert.equal(quietMesaDeviceSelect(desktop), false);
  assert.deepEqual([...desktop.map.keys()], ["XDG_RUNTIME_DIR"]);
  const locked = {
    get: () => undefined,
    set: () => {
      throw new Deno.errors.NotCapable("no env write");
    },
  };
  assert.equal(
    quietMesaDeviceSelect(locked),
    false,
    "without --allow-env it changes nothing and does not throw",
  );
});

const LAYER = "vulkan/implicit_layer.d/VkLayer_MESA_device_select.json";
const root = Deno.env.get("RETRACE_TEST_VULKAN_ROOT");
const layerInstalled = [
  `/usr/share/${LAYER}`,
  `/etc/${LAYER}`,
  ...(root ? [`${root}/usr/share/${LAYER}`] : []),
]
  .some((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });

Deno.test({
  name: layerInstalled
    ? "with Mesa's device-select layer and no XDG_RUNTIME_DIR, an adapter probe prints nothing"
    : "adapter probe under Mesa's device-select layer [ignored: the layer is not installed]",
  ignore: !layerInstalled,
  async fn() {
    const extra: Record<string, string> = {};
    if (root) {
      const lib = `${root}/usr/lib/x86_64-linux-gnu`;
      // lavapipe's ICD file, pointed at the unpacked library
      const manifest = JSON.parse(
        await Deno.readTextFile(`${root}/usr/share/vulkan/icd.d/lvp_icd.x86_64.json`),
      );
      manifest.ICD.library_path = `${lib}/libvulkan_lvp.so`;
      const icd = await Deno.makeTempFile({ suffix: ".json" });
      await Deno.writeTextFile(icd, JSON.stringify(manifest));
      Object.assign(extra, {
        LD_LIBRARY_PATH: lib,
        XDG_DATA_DIRS: `${root}/usr/share`,
        VK_DRIVER_FILES: icd,
      });
    }
    const backend = new URL("../lib/runtime/backend.ts", import.meta.url).href;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const { probeAdapter } = await import(${JSON.stringify(backend)});
         console.log(JSON.stringify({ adapter: (await probeAdapter())?.description ?? null }));`,
      ],
      clearEnv: true, // no XDG_RUNTIME_DIR, as on a headless server
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: Deno.env.get("HOME") ?? "/tmp", ...extra },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.equal(stderr, "", "the probe wrote to stderr");
    assert.match(new TextDecoder().decode(out.stdout), /"adapter"/);
  },
});

/**
 * The shipped classifiers (models/*): each loads through lib/nets from its manifest, and the TypeScript forward
 * (wasm) on the committed 200-image test slice — images regenerated in memory by the deterministic synthetic
 * world, decoded and preprocessed by lib/image — matches the logits PyTorch wrote at training time (to 1e-3)
 * and gives the same slice mAP within 0.5 points. The work runs in a subprocess (tests/helpers/shipped_slice.ts
 * says why).
 */
import assert from "node:assert/strict";

// RETRACE_TEST_MODELS points the test at another models directory (e.g. a fresh training run).
const MODELS = Deno.env.get("RETRACE_TEST_MODELS") ?? new URL("../models/", import.meta.url).pathname;
const SCRIPT = new URL("./helpers/shipped_slice.ts", import.meta.url).pathname;
const dirs: string[] = [];
for await (const e of Deno.readDir(MODELS)) {
  if (!e.isDirectory) continue;
  try {
    await Deno.stat(`${MODELS}/${e.name}/manifest.json`);
    dirs.push(e.name);
  } catch { /* not a model directory */ }
}

for (const name of dirs.sort()) {
  Deno.test(`shipped model ${name} matches PyTorch on the test slice`, async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-env", "--allow-ffi", "--allow-sys", SCRIPT, `${MODELS}/${name}`],
      env: { NO_COLOR: "1" },
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const line = stdout.split("\n").find((l) => l.startsWith("{"));
    assert.ok(
      out.code === 0 && line,
      `subprocess failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
    const { worst, sliceMap, reported, images } = JSON.parse(line);
    assert.equal(images, 200);
    assert.ok(worst <= 1e-3, `${name}: logits differ from PyTorch's by up to ${worst} (relative)`);
    assert.ok(
      Math.abs(sliceMap - reported) <= 0.005,
      `${name}: slice mAP ${sliceMap} vs PyTorch's ${reported}`,
    );
  });
}

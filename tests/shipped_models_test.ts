/**
 * The shipped models (models/*). Classifiers: each loads through lib/nets from its manifest, and the TypeScript
 * forward (wasm) on the committed 200-image test slice — images regenerated in memory by the deterministic
 * synthetic world, decoded and preprocessed by lib/image — matches the logits PyTorch wrote at training time (to
 * 1e-3) and gives the same slice mAP within 0.5 points. Captioners: on their test slice (the first 50 test images), pooled features to
 * 1e-3, teacher-forced log-probabilities to 1e-3, and the greedy captions equal PyTorch's. The work runs in
 * subprocesses (tests/helpers/shipped_slice.ts says why).
 */
import assert from "node:assert/strict";

// RETRACE_TEST_MODELS points the test at another models directory (e.g. a fresh training run).
const MODELS = Deno.env.get("RETRACE_TEST_MODELS") ?? new URL("../models/", import.meta.url).pathname;
const SCRIPT = new URL("./helpers/shipped_slice.ts", import.meta.url).pathname;
const CAPTION_SCRIPT = new URL("./helpers/shipped_caption_slice.ts", import.meta.url).pathname;
const dirs: string[] = [];
const captioners: string[] = [];
for await (const e of Deno.readDir(MODELS)) {
  if (!e.isDirectory) continue;
  let text: string;
  try {
    text = await Deno.readTextFile(`${MODELS}/${e.name}/manifest.json`);
  } catch {
    continue; // not a model directory (no manifest)
  }
  const manifest = JSON.parse(text); // a broken manifest fails the suite here, not skipped
  (manifest.kind === "captioner" ? captioners : dirs).push(e.name);
}

Deno.test("the shipped models are all found", () => {
  assert.ok(dirs.length >= 2 && captioners.length >= 1, `classifiers ${dirs}, captioners ${captioners}`);
});

for (const name of captioners.sort()) {
  Deno.test(`shipped captioner ${name} matches PyTorch on the test slice`, async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-env",
        "--allow-ffi",
        "--allow-sys",
        CAPTION_SCRIPT,
        `${MODELS}/${name}`,
      ],
      env: { NO_COLOR: "1" },
    }).output();
    const line = new TextDecoder().decode(out.stdout).split("\n").find((l) => l.startsWith("{"));
    assert.ok(
      out.code === 0 && line,
      `subprocess failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
    const { images, worstPooled, worstLogp, sameGreedy } = JSON.parse(line);
    assert.ok(images >= 4, `${images} slice images`);
    assert.ok(worstPooled <= 1e-3, `${name}: pooled features differ by up to ${worstPooled} (relative)`);
    assert.ok(worstLogp <= 1e-3, `${name}: log-probabilities differ by up to ${worstLogp}`);
    assert.equal(sameGreedy, images, `${name}: ${sameGreedy}/${images} greedy captions equal PyTorch's`);
  });
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

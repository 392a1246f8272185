/**
 * Synthetic world determinism: two generations of the same small world are bit-identical (every file hashed,
 * JPEGs included) and match the manifest's hashes; an image does not depend on generation order or on how many
 * images came before it; the PRNG streams are reproducible and independent.
 */
import assert from "node:assert/strict";
import { imageId, splitOfId, SPLITS, vocId } from "../lib/synthetic/ids.ts";
import { cyrb128, Rng, rngFor } from "../lib/synthetic/prng.ts";
import { kit, syntheticTest } from "./helpers/synthetic_gate.ts";

const SMALL = { train: 12, val: 6, test: 6 };

Deno.test("PRNG: same key, same stream; other keys, other streams; uniform enough", () => {
  const a = rngFor(0, "val", 3, "layout"), b = rngFor(0, "val", 3, "layout");
  const xs = Array.from({ length: 100 }, () => a.uint32());
  assert.deepEqual(Array.from({ length: 100 }, () => b.uint32()), xs);
  for (
    const other of [
      rngFor(1, "val", 3, "layout"),
      rngFor(0, "test", 3, "layout"),
      rngFor(0, "val", 4, "layout"),
    ]
  ) {
    assert.notDeepEqual(Array.from({ length: 100 }, () => other.uint32()), xs);
  }
  assert.notDeepEqual(cyrb128("0/val/3/style"), cyrb128("0/val/3/layout"));
  const r = new Rng(cyrb128("uniformity"));
  let sum = 0, lo = 0;
  for (let i = 0; i < 20000; i++) {
    const u = r.float();
    assert.ok(u >= 0 && u < 1);
    sum += u;
    if (u < 0.1) lo++;
  }
  assert.ok(Math.abs(sum / 20000 - 0.5) < 0.01, `mean ${sum / 20000}`);
  assert.ok(Math.abs(lo / 20000 - 0.1) < 0.01, `P(u < 0.1) = ${lo / 20000}`);
  const ints = new Set(Array.from({ length: 2000 }, () => r.int(3, 7)));
  assert.deepEqual([...ints].sort(), [3, 4, 5, 6, 7]);
});

Deno.test("image ids: split-coded, 6-digit VOC ids, round trip", () => {
  assert.equal(imageId("train", 0), 100000);
  assert.equal(imageId("test", 42), 300042);
  assert.equal(vocId(imageId("val", 7)), "200007");
  for (const split of SPLITS) assert.deepEqual(splitOfId(imageId(split, 99999)), { split, index: 99999 });
  assert.throws(() => imageId("train", 100000), RangeError);
});

syntheticTest("a rerun writes bit-identical files, and the manifest hashes them", async () => {
  const { tempWorld, hashTree } = await kit();
  const first = await tempWorld(SMALL), second = await tempWorld(SMALL);
  try {
    const a = await hashTree(first.dir), b = await hashTree(second.dir);
    const n = SMALL.train + SMALL.val + SMALL.test;
    // 2 JPEGs + 1 XML per image; ImageSets: 4 splits x (1 + 12 classes); 6 COCO JSONs; 6 flag files; manifest
    assert.equal(a.size, 3 * n + 4 * 13 + 6 + 6 + 1);
    assert.deepEqual([...a.keys()], [...b.keys()]);
    for (const [path, hash] of a) assert.equal(b.get(path), hash, `${path} differs between runs`);
    const m = first.manifest;
    assert.deepEqual(m, second.manifest);
    const annotationPaths = [...a.keys()].filter((p) => !p.endsWith(".jpg") && p !== "manifest.json");
    assert.deepEqual(Object.keys(m.annotation_files), annotationPaths);
    for (const p of annotationPaths) assert.equal(m.annotation_files[p], a.get(p), p);
    const lines = [...a].filter(([p]) => p.endsWith(".jpg")).map(([p, h]) => `${p}\t${h}\n`).sort().join("");
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(lines));
    assert.equal(
      m.images_sha256,
      Array.from(new Uint8Array(digest), (x) => x.toString(16).padStart(2, "0")).join(""),
    );
    // the same JPEG bytes in both layouts
    for (const [p, h] of a) {
      const coco = p.match(/^coco\/\w+2014\/COCO_\w+2014_0+(\d+)\.jpg$/);
      if (coco) assert.equal(a.get(`VOCdevkit/VOC2007/JPEGImages/${vocId(Number(coco[1]))}.jpg`), h, p);
    }
  } finally {
    await first.dispose();
    await second.dispose();
  }
});

syntheticTest("an image depends only on (seed, split, index), not on order or on other images", async () => {
  const { tempWorld, hashTree, generateImage } = await kit();
  const base = await tempWorld(SMALL), other = await tempWorld({ train: 0, val: 9, test: 2 });
  try {
    const a = await hashTree(base.dir), b = await hashTree(other.dir);
    let compared = 0;
    for (const [path, hash] of b) {
      const m = path.match(/^VOCdevkit\/VOC2007\/(JPEGImages|Annotations)\/(\d{6})\.(jpg|xml)$/);
      if (!m) continue;
      const { split, index } = splitOfId(Number(m[2]));
      if (index < SMALL[split]) {
        assert.equal(a.get(path), hash, `${path} depends on the other images`);
        compared++;
      }
    }
    assert.equal(compared, 2 * (6 + 2));
    // generated alone, out of order, in memory: the same bytes as on disk
    for (const [split, index] of [["test", 5], ["val", 2], ["train", 11]] as const) {
      const img = generateImage(0, split, index);
      const onDisk = await Deno.readFile(`${base.dir}/VOCdevkit/VOC2007/JPEGImages/${vocId(img.id)}.jpg`);
      assert.deepEqual(img.jpeg, new Uint8Array(onDisk));
    }
    // and another seed gives another image
    assert.notDeepEqual(generateImage(1, "test", 5).jpeg, generateImage(0, "test", 5).jpeg);
  } finally {
    await base.dispose();
    await other.dispose();
  }
});

syntheticTest("an existing folder is reused only when it holds this generator's world", async () => {
  const { generateWorld } = await kit();
  const dir = await Deno.makeTempDir({ prefix: "retrace-synthetic-" });
  try {
    await Deno.writeTextFile(`${dir}/notes.txt`, "keep me");
    await assert.rejects(
      generateWorld({ out: dir, seed: 0, counts: { train: 1, val: 0, test: 0 } }),
      /refusing/,
    );
    await Deno.remove(`${dir}/notes.txt`);
    await generateWorld({ out: dir, seed: 0, counts: { train: 2, val: 0, test: 0 } });
    await generateWorld({ out: dir, seed: 0, counts: { train: 1, val: 0, test: 0 } });
    const jpegs = [...Deno.readDirSync(`${dir}/VOCdevkit/VOC2007/JPEGImages`)].map((e) => e.name);
    assert.deepEqual(jpegs, ["100000.jpg"]); // the stale image of the first run is gone
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

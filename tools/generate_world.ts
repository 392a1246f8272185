/**
 * Generates the synthetic shapes world (issue 4): VOC 2007 and COCO 2014 layouts of the same images, captions,
 * EBP difficult flags and manifest.json. See lib/synthetic/world.ts for the layout.
 *
 *     deno task data                       # = deno run -A tools/generate_world.ts with the defaults below
 *     deno run -A tools/generate_world.ts --out data/synthetic --seed 0 --train 6000 --val 1000 --test 1000
 *
 * Progress goes to stderr; the last line of stdout is a one-line summary. Deterministic: the same arguments
 * write bit-identical files.
 */

import { parseArgs } from "node:util";
import { SPLITS } from "../lib/synthetic/ids.ts";
import { generateWorld } from "../lib/synthetic/world.ts";

const USAGE = "usage: generate_world.ts [--out DIR] [--seed N] [--train N] [--val N] [--test N]";

function integer(name: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) {
    console.error(`--${name} must be a non-negative integer, got ${JSON.stringify(text)}\n${USAGE}`);
    Deno.exit(2);
  }
  return n;
}

function duration(s: number): string {
  return s < 60
    ? `${s.toFixed(0)}s`
    : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        out: { type: "string", default: "data/synthetic" },
        seed: { type: "string", default: "0" },
        train: { type: "string", default: "6000" },
        val: { type: "string", default: "1000" },
        test: { type: "string", default: "1000" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const counts = {
    train: integer("train", values.train),
    val: integer("val", values.val),
    test: integer("test", values.test),
  };
  const total = SPLITS.reduce((s, k) => s + counts[k], 0);
  const t0 = performance.now();
  let done = 0, lastReport = 0;
  const manifest = await generateWorld({
    out: values.out,
    seed: integer("seed", values.seed),
    counts,
    onProgress: (split, i, n) => {
      done++;
      const now = performance.now();
      if (i === n || now - lastReport > 2000) {
        lastReport = now;
        const rate = done / ((now - t0) / 1000);
        const eta = (total - done) / rate;
        console.error(
          `${split} ${i}/${n}  total ${done}/${total}  ${rate.toFixed(1)} img/s  eta ${duration(eta)}`,
        );
      }
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const objects = SPLITS.reduce((s, k) => s + manifest.stats[k].objects, 0);
  console.log(`wrote ${total} images, ${objects} objects to ${values.out} in ${duration(seconds)}`);
}

if (import.meta.main) await main();

/**
 * `deno task eval` killed with SIGKILL mid-run resumes from its results file and ends with exactly the numbers
 * of an uninterrupted run (issue 5). Real subprocesses, the shipped ResNet50, a 10-image synthetic test split.
 */
import assert from "node:assert/strict";
import { kit, syntheticTest } from "./helpers/synthetic_gate.ts";
import { waitFor } from "./helpers/wait_for.ts";

const EVAL = new URL("../tools/eval.ts", import.meta.url).pathname;

function evalCommand(world: string, results: string): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      EVAL,
      "--root",
      `${world}/VOCdevkit/VOC2007`,
      "--split",
      "test",
      "--difficult-flags",
      `${world}/ebp_difficult/voc07_test.txt`,
      "--methods",
      "gradient,grad-cam",
      "--layers",
      "layer3,layer4",
      "--combine",
      "product:linear",
      "--results",
      results,
    ],
    env: { RETRACE_BACKEND: "wasm" },
    stdout: "piped",
    stderr: "piped",
  });
}

async function lines(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

syntheticTest(
  "eval CLI: a run killed with SIGKILL resumes and ends with the numbers of an uninterrupted run",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const { generateWorld } = await kit();
      await generateWorld({ out: `${dir}/world`, seed: 0, counts: { train: 0, val: 0, test: 10 } });

      const whole = await evalCommand(`${dir}/world`, `${dir}/whole.jsonl`).output();
      assert.equal(whole.code, 0, new TextDecoder().decode(whole.stderr));

      const child = evalCommand(`${dir}/world`, `${dir}/killed.jsonl`).spawn();
      let seen = 0;
      await waitFor("the run to record 3 images before it is killed", async () => {
        seen = (await lines(`${dir}/killed.jsonl`)).length;
        if (seen < 4 && (await Promise.race([child.status, Promise.resolve(null)]))) {
          throw new Error(`the run ended before it was killed, with ${seen} lines`);
        }
        return seen >= 4;
      });
      child.kill("SIGKILL");
      const status = await child.status;
      await child.stdout.cancel();
      await child.stderr.cancel();
      assert.equal(status.signal, "SIGKILL");
      const atKill = (await lines(`${dir}/killed.jsonl`)).length;
      assert.ok(seen >= 4 && atKill < 11, `killed mid-run (${atKill - 1} of 10 images written)`);

      const resumed = await evalCommand(`${dir}/world`, `${dir}/killed.jsonl`).output();
      const log = new TextDecoder().decode(resumed.stderr);
      assert.equal(resumed.code, 0, log);
      assert.match(log, new RegExp(`10 images in this shard, ${atKill - 1} already in the results file`));

      const a = JSON.parse(await Deno.readTextFile(`${dir}/whole.json`));
      const b = JSON.parse(await Deno.readTextFile(`${dir}/killed.json`));
      assert.equal(b.images + b.problems.length, 10);
      assert.deepEqual(b.tallies, a.tallies);
      assert.deepEqual(b.accuracy, a.accuracy);
      const keys = (await lines(`${dir}/killed.jsonl`)).slice(1).map((l) => JSON.parse(l).key);
      assert.equal(new Set(keys).size, 10, "every image exactly once");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

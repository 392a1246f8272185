/**
 * lib/synthetic/ensure.ts leaves no temporary folder behind: a generation that fails part-way removes its own,
 * and the folder of a generation whose process was killed (SIGKILL, a real subprocess: the kernel drops its lock)
 * is removed by the next ensure, while folders a running generation may still own (its lock is held, or it has
 * no lock and changed recently) are kept. The generator is a stand-in (it writes a file, then fails, hangs or
 * writes a manifest), so this runs in seconds, with the suite's permissions (no --allow-all).
 */
import assert from "node:assert/strict";
import { syntheticTest } from "./helpers/synthetic_gate.ts";
import { waitFor } from "./helpers/wait_for.ts";
import { STALE_IDLE_MS } from "../lib/synthetic/stale_temps.ts";

const ENSURE = new URL("../lib/synthetic/ensure.ts", import.meta.url).href;
const ROOT = new URL("..", import.meta.url).pathname;

/** The names in `parent` that start with `prefix`, sorted. */
async function namesIn(parent: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(parent)) if (e.name.startsWith(prefix)) out.push(e.name);
  return out.sort();
}

syntheticTest("a synthetic-world generation that fails part-way leaves no temporary folder", async () => {
  const { ensureSyntheticWorld } = await import(ENSURE);
  const parent = await Deno.makeTempDir({ prefix: "retrace-ensure-" });
  try {
    let wroteInto = "";
    await assert.rejects(
      ensureSyntheticWorld(`${parent}/world`, 3, async (out: string) => {
        await Deno.mkdir(out, { recursive: true });
        await Deno.writeTextFile(`${out}/00001.jpg`, "half an image");
        wroteInto = out;
        throw new Error("disk full");
      }),
      /disk full/,
    );
    assert.match(
      wroteInto,
      new RegExp(`/world\\.tmp-${Deno.pid}-[0-9a-f]{8}/world$`),
      "it wrote into a temp sibling",
    );
    assert.deepEqual(
      await namesIn(parent, "world"),
      [],
      "neither the world nor its temporary folder is left",
    );
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

syntheticTest(
  "the temporary folder of a killed generation is removed by the next ensure; live ones are kept",
  async () => {
    const { ensureSyntheticWorld } = await import(ENSURE);
    const parent = await Deno.makeTempDir({ prefix: "retrace-ensure-" });
    const held: Deno.FsFile[] = [];
    try {
      // a process generating the world is killed part-way (its generator has written a file and is still busy)
      const killed = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `import { ensureSyntheticWorld } from ${JSON.stringify(ENSURE)};
await ensureSyntheticWorld(${JSON.stringify(`${parent}/world`)}, 3, async (out) => {
  await Deno.mkdir(out, { recursive: true });
  await Deno.writeTextFile(out + "/00001.jpg", "half an image");
  setInterval(() => {}, 1000); // busy for good: the process lives until it is killed
  await new Promise(() => {});
});`,
        ],
        cwd: ROOT,
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(killed.stderr).text();
      const left = `world.tmp-${killed.pid}-`;
      const name = await waitFor(
        "the killed process's generator to write into its temporary folder",
        async () => {
          for (const n of await namesIn(parent, left)) {
            if (await Deno.stat(`${parent}/${n}/world/00001.jpg`).then(() => true, () => false)) return n;
          }
          return undefined;
        },
      );
      killed.kill("SIGKILL");
      await killed.status;
      await stderr;
      assert.deepEqual(await namesIn(parent, "world"), [name], "the kill left its temporary folder");

      // a folder whose generation runs (its lock is held: here by this process, as by another), one whose
      // generator left its lock unheld, and two without a lock file (older folders): recent, and idle for long
      const running = "world.tmp-1-0000000a";
      const unheld = "world.tmp-2-0000000b";
      const recentUnlocked = "world.tmp-0000000c";
      const idleUnlocked = "world.tmp-0000000d";
      for (const n of [running, unheld, recentUnlocked, idleUnlocked]) {
        await Deno.mkdir(`${parent}/${n}/world/x`, { recursive: true });
      }
      for (const n of [running, unheld]) {
        const lock = await Deno.open(`${parent}/${n}/lock`, { create: true, write: true });
        held.push(lock);
        if (n === running) assert.ok(await lock.tryLock(true));
      }
      const longAgo = new Date(Date.now() - STALE_IDLE_MS - 60_000);
      for (const sub of ["/world/x", "/world", ""]) {
        await Deno.utime(`${parent}/${idleUnlocked}${sub}`, longAgo, longAgo);
      }

      const done = await ensureSyntheticWorld(`${parent}/world`, 3, async (out: string) => {
        await Deno.mkdir(out, { recursive: true });
        await Deno.writeTextFile(`${out}/manifest.json`, "{}");
      });
      assert.equal(done, "generated");
      assert.deepEqual(
        await namesIn(parent, "world"),
        ["world", running, recentUnlocked].sort(),
        "the killed process's folder, the unheld one and the idle one without a lock are removed; the rest stay",
      );
    } finally {
      for (const lock of held) lock.close();
      await Deno.remove(parent, { recursive: true });
    }
  },
);

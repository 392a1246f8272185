/**
 * Makes sure the synthetic world's test split exists under `dir` (generating 1000 test images, seed 0, about
 * 20-40 s on one core, when it is missing). Generation goes to a temporary sibling folder that is renamed into
 * place, so concurrent callers never see a half-written world; the loser of a race just drops its copy. A failed
 * generation removes its folder; one whose process was killed is removed by the next call (stale_temps.ts).
 */
import { generateWorld } from "./world.ts";
import { openGenerationTemp, removeStaleTemps } from "./stale_temps.ts";

/** Writes a world of `test` test images into the folder `out` (tests pass a stand-in). */
export type WorldGenerator = (out: string, test: number) => Promise<unknown>;

const generateTestSplit: WorldGenerator = (out, test) =>
  generateWorld({ out, seed: 0, counts: { train: 0, val: 0, test } });

export async function ensureSyntheticWorld(
  dir: string,
  test = 1000,
  generate: WorldGenerator = generateTestSplit,
): Promise<"present" | "generated"> {
  await removeStaleTemps(dir);
  const exists = await Deno.stat(`${dir}/manifest.json`).then(() => true, () => false);
  if (exists) return "present";
  const tmp = await openGenerationTemp(dir);
  try {
    await generate(tmp.world, test);
    try {
      await Deno.rename(tmp.world, dir);
    } catch (e) {
      if (!(await Deno.stat(`${dir}/manifest.json`).then(() => true, () => false))) throw e;
    }
  } finally {
    tmp.lock.close();
    await Deno.remove(tmp.path, { recursive: true }).catch(() => {});
  }
  return "generated";
}

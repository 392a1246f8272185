/**
 * Makes sure the synthetic world's test split exists under `dir` (generating 1000 test images, seed 0, about
 * 20-40 s on one core, when it is missing). Generation goes to a temporary sibling folder that is renamed into
 * place, so concurrent callers never see a half-written world; the loser of a race just drops its copy.
 */
import { generateWorld } from "./world.ts";

export async function ensureSyntheticWorld(dir: string, test = 1000): Promise<"present" | "generated"> {
  const exists = await Deno.stat(`${dir}/manifest.json`).then(() => true, () => false);
  if (exists) return "present";
  const tmp = `${dir}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(tmp.replace(/\/[^/]*$/, "") || ".", { recursive: true });
  try {
    await generateWorld({ out: tmp, seed: 0, counts: { train: 0, val: 0, test } });
    try {
      await Deno.rename(tmp, dir);
    } catch (e) {
      if (!(await Deno.stat(`${dir}/manifest.json`).then(() => true, () => false))) throw e;
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return "generated";
}

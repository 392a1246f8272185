/**
 * The temporary folders synthetic-world generation writes into (lib/synthetic/ensure.ts): `<dir>.tmp-<pid>-<hex>`
 * beside the world folder, named after the generating process. A process killed mid-generation (SIGKILL, a
 * server's exit while its generator worker runs) cannot remove its own; the next generation removes every such
 * sibling whose process is gone (or that is older than a day, in case the pid was reused), and older unnamed ones
 * (`<dir>.tmp-<hex>`, from before the pid was in the name) after an hour. A live generation is never touched.
 */

/** Older than this, a temporary folder is removed even when a process with its pid runs (a reused pid). */
export const STALE_NAMED_MS = 24 * 3600_000;
/** Older than this, a temporary folder without a pid in its name is removed. */
export const STALE_UNNAMED_MS = 3600_000;

/** A fresh temporary sibling of `dir` for this process. */
export function tempSibling(dir: string): string {
  return `${dir}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Whether process `pid` runs (Linux /proc); null when this cannot be told here. */
async function processRuns(pid: number): Promise<boolean | null> {
  const stat = (path: string) => Deno.stat(path).then(() => true, () => false);
  if (!(await stat("/proc/self"))) return null;
  return await stat(`/proc/${pid}`);
}

function split(path: string): { parent: string; base: string } {
  const at = path.lastIndexOf("/");
  return at < 0
    ? { parent: ".", base: path }
    : { parent: path.slice(0, at) || "/", base: path.slice(at + 1) };
}

/**
 * Removes the temporary siblings of `dir` that no running generation owns; returns their paths. Missing parent
 * folder: nothing to do.
 */
export async function removeStaleTemps(dir: string, now = Date.now()): Promise<string[]> {
  const { parent, base } = split(dir.replace(/\/+$/, ""));
  const named = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.tmp-(?:(\\d+)-)?[0-9a-f]{8}$`);
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(parent));
  } catch {
    return removed;
  }
  for (const e of entries) {
    const m = named.exec(e.name);
    if (!m || !e.isDirectory) continue;
    const path = `${parent}/${e.name}`;
    const info = await Deno.stat(path).catch(() => null);
    if (!info) continue;
    const age = now - (info.mtime?.getTime() ?? now);
    let stale: boolean;
    if (m[1] === undefined) stale = age > STALE_UNNAMED_MS;
    else {
      const pid = Number(m[1]);
      stale = pid !== Deno.pid && (await processRuns(pid)) === false || age > STALE_NAMED_MS;
    }
    if (!stale) continue;
    try {
      await Deno.remove(path, { recursive: true });
      removed.push(path);
    } catch { /* removed meanwhile, or not ours to remove */ }
  }
  return removed;
}

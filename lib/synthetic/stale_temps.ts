/**
 * The temporary folders synthetic-world generation works in (lib/synthetic/ensure.ts), and the sweep that removes
 * those nobody works in any more. A generation's folder `<dir>.tmp-<pid>-<hex>` beside the world holds `lock`
 * (locked exclusively while it runs) and `world` (what it writes, renamed into place at the end). A process killed
 * mid-generation (SIGKILL, a server's exit while its generator worker runs) cannot remove its folder, but the
 * kernel drops its lock: the next generation removes every such sibling whose lock it can take, and one without a
 * lock (older folders, `<dir>.tmp-<hex>`) once nothing in it has changed for STALE_IDLE_MS. A live generation's
 * folder, in this process or another, is never touched. Needs no permission beyond reading and writing the folder.
 */

/** A temporary folder without a lock is removed once nothing in it has changed for this long. */
export const STALE_IDLE_MS = 15 * 60_000;

/** A generation's temporary folder: its lock file and the world it writes. */
export interface GenerationTemp {
  path: string;
  world: string;
  lock: Deno.FsFile;
}

/** Creates a temporary sibling of `dir` for one generation and takes its lock; close `lock` when done. */
export async function openGenerationTemp(dir: string): Promise<GenerationTemp> {
  const path = `${dir}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(path, { recursive: true });
  const lock = await Deno.open(`${path}/lock`, { create: true, write: true });
  if (!(await lock.tryLock(true))) throw new Error(`cannot lock ${path}/lock`);
  return { path, world: `${path}/world`, lock };
}

function split(path: string): { parent: string; base: string } {
  const at = path.lastIndexOf("/");
  return at < 0
    ? { parent: ".", base: path }
    : { parent: path.slice(0, at) || "/", base: path.slice(at + 1) };
}

/** The newest modification time of `path` and every folder under it (a file written updates its folder's). */
async function newestChange(path: string): Promise<number> {
  let newest = (await Deno.stat(path)).mtime?.getTime() ?? 0;
  for await (const e of Deno.readDir(path)) {
    if (e.isDirectory) newest = Math.max(newest, await newestChange(`${path}/${e.name}`));
  }
  return newest;
}

/** Whether a generation still works in `path`: it holds the lock, or (no lock file) it changed recently. */
async function inUse(path: string, now: number): Promise<boolean> {
  let lock: Deno.FsFile;
  try {
    lock = await Deno.open(`${path}/lock`, { read: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) return true; // cannot tell: leave it
    return now - await newestChange(path).catch(() => now) < STALE_IDLE_MS;
  }
  try {
    return !(await lock.tryLock(true));
  } finally {
    lock.close();
  }
}

/** Removes the temporary siblings of `dir` that no running generation works in; returns their paths. */
export async function removeStaleTemps(dir: string, now = Date.now()): Promise<string[]> {
  const { parent, base } = split(dir.replace(/\/+$/, ""));
  const escaped = base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const temp = new RegExp(`^${escaped}\\.tmp-(?:\\d+-)?[0-9a-f]{8}$`);
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(parent));
  } catch {
    return removed;
  }
  for (const e of entries) {
    if (!e.isDirectory || !temp.test(e.name)) continue;
    const path = `${parent}/${e.name}`;
    if (await inUse(path, now)) continue;
    try {
      await Deno.remove(path, { recursive: true });
      removed.push(path);
    } catch { /* removed meanwhile, or not ours to remove */ }
  }
  return removed;
}

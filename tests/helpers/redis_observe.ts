/**
 * Events of a Redis-backed run that a test waits on instead of sleeping (Linux /proc, read by `sh`): that a process
 * sent SIGSTOP has stopped, every thread; that Redis has read and executed every byte such a frozen process had
 * sent it (the kernel's socket queues, then a round trip); and that a retrace host's shard slots are free again
 * (each slot's reader connection is blocked in XREADGROUP: whatever shard it ran before has ended).
 */
import type { Redis } from "ioredis";
import { waitFor } from "./wait_for.ts";

interface TcpRow {
  localPort: number;
  remotePort: number;
  txQueue: number;
  rxQueue: number;
  inode: string;
}

/**
 * What the kernel says about process `pid`: its threads' states, its sockets' inodes, and every TCP socket's
 * queues. Read through `sh` and coreutils: Deno lets a process read another's /proc entries only with
 * --allow-all, and the suite runs with --allow-run instead.
 */
async function kernelView(pid: number): Promise<{ states: string[]; inodes: Set<string>; tcp: TcpRow[] }> {
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      'cat /proc/"$0"/task/*/stat; echo "#fd"; readlink /proc/"$0"/fd/*; echo "#tcp"; cat /proc/net/tcp /proc/net/tcp6',
      String(pid),
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  const [stats, fds, tcp] = new TextDecoder().decode(out.stdout).split(/^#fd\n|^#tcp\n/m);
  const states = stats.split("\n").filter((l) => l.includes(")")).map((l) =>
    l.slice(l.lastIndexOf(")") + 2).split(" ")[0] // the state follows the command name
  );
  const inodes = new Set([...(fds ?? "").matchAll(/^socket:\[(\d+)\]$/gm)].map((m) => m[1]));
  const rows: TcpRow[] = [];
  for (const line of (tcp ?? "").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !f[0].endsWith(":")) continue;
    const port = (addr: string) => parseInt(addr.split(":").at(-1)!, 16);
    const [tx, rx] = f[4].split(":").map((h) => parseInt(h, 16));
    rows.push({ localPort: port(f[1]), remotePort: port(f[2]), txQueue: tx, rxQueue: rx, inode: f[9] });
  }
  return { states, inodes, tcp: rows };
}

/** Resolves once every thread of process `pid` is stopped (state T after SIGSTOP). */
export async function untilStopped(pid: number): Promise<void> {
  let states = "";
  await waitFor(`process ${pid} to stop (SIGSTOP)`, async () => {
    const all = (await kernelView(pid)).states;
    states = all.join("");
    return all.length > 0 && all.every((s) => s === "T" || s === "t");
  }, { state: () => `thread states ${states}` });
}

/**
 * Freezes process `pid` (SIGSTOP) and resolves once it has stopped and Redis (on `redisPort`) has read and
 * executed everything it had sent: none of the process's connections to Redis has bytes unacknowledged on its
 * side or unread on Redis's side, then a PING round trip (Redis executes what it reads before it serves the next
 * client). If that cannot be established the process is resumed and the error thrown.
 */
export async function freezeAndSettle(redis: Redis, pid: number, redisPort: number): Promise<void> {
  Deno.kill(pid, "SIGSTOP");
  try {
    await untilStopped(pid);
    let last = "";
    await waitFor(`Redis to read everything process ${pid} sent it`, async () => {
      const { inodes, tcp } = await kernelView(pid);
      const mine = tcp.filter((r) => inodes.has(r.inode) && r.remotePort === redisPort);
      const queued = mine.map((r) => {
        const peer = tcp.find((p) => p.localPort === redisPort && p.remotePort === r.localPort);
        return r.txQueue + (peer?.rxQueue ?? 0);
      });
      last = `${mine.length} connections, bytes in flight ${JSON.stringify(queued)}`;
      return mine.length > 0 && queued.every((q) => q === 0);
    }, { state: () => last });
    await redis.ping();
  } catch (e) {
    Deno.kill(pid, "SIGCONT");
    throw e;
  }
}

/**
 * How many connections named `name` (a retrace host's are "retrace:HOST") are blocked in XREADGROUP: a shard
 * slot waits there only while it runs no shard.
 */
export async function slotsWaiting(redis: Redis, name: string): Promise<number> {
  const list = await redis.client("LIST") as string;
  return list.split("\n").filter((line) => {
    const f = Object.fromEntries(
      line.trim().split(" ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
    );
    return f.name === name && f.cmd === "xreadgroup" && (f.flags ?? "").includes("b");
  }).length;
}

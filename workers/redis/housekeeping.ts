/**
 * Housekeeping of the Redis queue, run by every host at start and then periodically (any host may run it; each
 * step is safe to repeat and to run on several hosts at once):
 *
 *   - the shards stream is trimmed of every entry that was delivered and acknowledged (XTRIM MINID below both
 *     the oldest pending entry and the first entry not yet delivered): finished shards, whatever their job;
 *   - the job list drops ids whose job hash has expired (finished jobs expire RETRACE_JOB_RETAIN_S after they
 *     end; their other keys expire with them);
 *   - hosts not seen for `departedMs` leave the hosts hash, and consumers of the shard group that hold no
 *     pending entry and have been idle that long are deleted (a restarted host with a new id left one behind);
 *   - this host's shard files (<workDir>/<job>.shard-<i>-of-<n>.jsonl) whose job has ended or is gone, and that
 *     no slot of this host runs, are removed (a host killed mid-shard left them).
 */
import type { Redis } from "ioredis";
import { FINAL_STATUSES, type JobStatus } from "../evaluations_api.ts";
import { GROUP, type RedisKeys } from "./store.ts";

export interface HousekeepingReport {
  trimmed: number;
  jobsForgotten: number;
  hostsForgotten: string[];
  consumersDeleted: string[];
  filesRemoved: string[];
}

/** The entry id just after `id` ("ms-seq" -> "ms-(seq+1)"). */
function after(id: string): string {
  const [ms, seq] = id.split("-");
  return `${ms}-${Number(seq) + 1}`;
}

/** Orders stream ids: negative when a < b. */
function compareIds(a: string, b: string): number {
  const [am, as] = a.split("-").map(BigInt);
  const [bm, bs] = b.split("-").map(BigInt);
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

/** Flat name, value replies (XINFO) as objects. */
function records(reply: unknown): Record<string, unknown>[] {
  return ((reply as unknown[][]) ?? []).map((r) => {
    const o: Record<string, unknown> = {};
    for (let i = 0; i + 1 < r.length; i += 2) o[String(r[i])] = r[i + 1];
    return o;
  });
}

const SHARD_FILE = /^([0-9a-f-]{36})\.shard-\d+-of-\d+\.jsonl$/;

export async function housekeeping(
  redis: Redis,
  keys: RedisKeys,
  options: {
    departedMs: number;
    /** This host's shard files' folder. */
    workDir?: string;
    /** The jobs this host's slots run now (their files stay). */
    running?: () => Iterable<string>;
    now?: number;
  },
): Promise<HousekeepingReport> {
  const now = options.now ?? Date.now();
  const report: HousekeepingReport = {
    trimmed: 0,
    jobsForgotten: 0,
    hostsForgotten: [],
    consumersDeleted: [],
    filesRemoved: [],
  };

  // the shards stream: below the oldest pending entry and the first undelivered one, all is acknowledged
  const groups = records(await redis.xinfo("GROUPS", keys.shards).catch(() => []));
  const group = groups.find((g) => g.name === GROUP);
  if (group) {
    const pending = await redis.xpending(keys.shards, GROUP) as [
      number,
      string | null,
      string | null,
      unknown,
    ];
    const lastDelivered = String(group["last-delivered-id"]);
    let minId = after(lastDelivered);
    if (pending[0] > 0 && pending[1] && compareIds(pending[1], minId) < 0) minId = pending[1];
    report.trimmed = await redis.xtrim(keys.shards, "MINID", minId) as number;
  }

  // the job list: ids whose job hash has expired
  const ids = await redis.zrange(keys.jobs, 0, -1);
  if (ids.length) {
    const exists = await Promise.all(ids.map((id) => redis.exists(keys.job(id))));
    const gone = ids.filter((_, i) => exists[i] === 0);
    if (gone.length) report.jobsForgotten = await redis.zrem(keys.jobs, ...gone);
  }

  // departed hosts and consumers
  const hosts = await redis.hgetall(keys.hosts);
  const departed = Object.entries(hosts).filter(([, t]) => now - Number(t) > options.departedMs).map(([h]) =>
    h
  );
  if (departed.length) {
    await redis.hdel(keys.hosts, ...departed);
    report.hostsForgotten = departed.sort();
  }
  if (group) {
    const consumers = records(await redis.xinfo("CONSUMERS", keys.shards, GROUP));
    for (const c of consumers) {
      const name = String(c.name);
      if (
        Number(c.pending) === 0 && Number(c.idle) > options.departedMs &&
        !(name in hosts && !departed.includes(name))
      ) {
        await redis.xgroup("DELCONSUMER", keys.shards, GROUP, name);
        report.consumersDeleted.push(name);
      }
    }
  }

  // this host's orphaned shard files
  if (options.workDir) {
    const running = new Set(options.running?.() ?? []);
    let entries: Deno.DirEntry[] = [];
    try {
      entries = await Array.fromAsync(Deno.readDir(options.workDir));
    } catch {
      entries = []; // no folder yet
    }
    for (const e of entries) {
      const job = SHARD_FILE.exec(e.name)?.[1];
      if (!e.isFile || !job || running.has(job)) continue;
      const status = await redis.hget(keys.job(job), "status");
      if (status === null || FINAL_STATUSES.includes(status as JobStatus)) {
        await Deno.remove(`${options.workDir}/${e.name}`).catch(() => {});
        report.filesRemoved.push(e.name);
      }
    }
  }
  return report;
}

/**
 * The Redis layout of distributed evaluations and the few atomic steps on it, shared by the accepting side
 * (workers/redis/jobs.ts) and the shard consumers (workers/redis/shard_consumer.ts). Engine: Redis Streams with
 * one consumer group — each shard is a stream entry, a host takes it with XREADGROUP, acknowledges it with XACK
 * only once its result is stored, and entries left pending longer than the visibility timeout (a dead or stalled
 * host) are taken over with XAUTOCLAIM. Keys (prefix P, default "retrace"):
 *
 *   P:shards                 stream of {job, shard, count, images}; consumer group "shard-runners"
 *   P:jobs                   sorted set of job ids by creation time
 *   P:job:ID                 hash: spec, status, createdAt, updatedAt, shards, images, acceptedBy, result, error
 *   P:job:ID:events          stream of {type, data}: what every host reports; SSE ids are its entry ids
 *   P:job:ID:results         hash: shard index -> that shard's PointingResult without the accuracies derived
 *                            from its tallies (HSETNX: the first one counts)
 *   P:job:ID:progress        hash: shard index -> {done, total, host} (latest report)
 *   P:job:ID:tallies         hash: "counted" -> the summed tallies of every stored shard; "live:<index>" -> a
 *                            running shard's latest tallies (written only by the host holding the shard, removed
 *                            when it is stored). The event stream carries counts only, so it stays small however
 *                            many labels and classes a job has.
 *   P:job:ID:refusals        hash: host -> why it cannot run the job
 *   P:hosts                  hash: host id -> last heartbeat (ms)
 *   channel P:cancel         job ids whose shards every host must stop
 */
import { Redis } from "ioredis";

export const GROUP = "shard-runners";
/** A host is live when its heartbeat is at most this old. */
export const HOST_LIVE_MS = 10_000;
export const HOST_BEAT_MS = 2_000;

export class RedisKeys {
  constructor(readonly prefix = "retrace") {}
  get shards(): string {
    return `${this.prefix}:shards`;
  }
  get jobs(): string {
    return `${this.prefix}:jobs`;
  }
  get hosts(): string {
    return `${this.prefix}:hosts`;
  }
  get cancel(): string {
    return `${this.prefix}:cancel`;
  }
  job(id: string): string {
    return `${this.prefix}:job:${id}`;
  }
  events(id: string): string {
    return `${this.job(id)}:events`;
  }
  results(id: string): string {
    return `${this.job(id)}:results`;
  }
  progress(id: string): string {
    return `${this.job(id)}:progress`;
  }
  refusals(id: string): string {
    return `${this.job(id)}:refusals`;
  }
  tallies(id: string): string {
    return `${this.job(id)}:tallies`;
  }
  /** Every key of a job, the hash and the event stream first (finishJob expires them all). */
  allOf(id: string): string[] {
    return [
      this.job(id),
      this.events(id),
      this.results(id),
      this.progress(id),
      this.refusals(id),
      this.tallies(id),
    ];
  }
}

/** One command connection: fails fast while Redis is unreachable (no offline queue) and reconnects forever. */
export function connectRedis(url: string, name: string): Redis {
  const redis = new Redis(url, {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(100 * times, 2000),
  });
  redis.on("error", () => {}); // reconnection is automatic; commands report their own failures
  return redis;
}

/** Waits until the connection is ready (or `timeoutMs` passes); false on timeout. */
export function whenReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === "ready") return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => (redis.off("ready", ready), resolve(false)), timeoutMs);
    const ready = () => (clearTimeout(timer), resolve(true));
    redis.once("ready", ready);
  });
}

/** Creates the shards stream and its consumer group when missing. */
export async function ensureGroup(redis: Redis, keys: RedisKeys): Promise<void> {
  try {
    await redis.xgroup("CREATE", keys.shards, GROUP, "0", "MKSTREAM");
  } catch (e) {
    if (!String((e as Error).message).includes("BUSYGROUP")) throw e;
  }
}

/** A stream entry's flat [field, value, field, value, …] list as an object. */
export function entryFields(fields: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]] = fields[i + 1];
  return out;
}

/** Appends one event to a job's stream. */
export function addEvent(redis: Redis, keys: RedisKeys, job: string, type: string, data: unknown) {
  return redis.xadd(keys.events(job), "*", "type", type, "data", JSON.stringify(data));
}

const FINAL_CHECK = `local s = redis.call('HGET', KEYS[1], 'status')
if (not s) or s == 'done' or s == 'failed' or s == 'cancelled' then return 0 end`;

/**
 * Sets a job's final status once (done, failed or cancelled) with its fields, appends the final event and sets
 * every key of the job to expire after `retainSeconds`, in one step; false when the job was already final
 * (another host finished or cancelled it first).
 */
export async function finishJob(
  redis: Redis,
  keys: RedisKeys,
  job: string,
  status: "done" | "failed" | "cancelled",
  fields: { result?: unknown; error?: string },
  retainSeconds: number,
): Promise<boolean> {
  const event = { status, error: fields.error ?? null, result: fields.result ?? null };
  const all = keys.allOf(job); // job hash first, events second
  const done = await redis.eval(
    `${FINAL_CHECK}
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updatedAt', ARGV[2], 'result', ARGV[3], 'error', ARGV[4])
redis.call('XADD', KEYS[2], '*', 'type', ARGV[1], 'data', ARGV[5])
for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
return 1`,
    all.length,
    ...all,
    status,
    new Date().toISOString(),
    fields.result === undefined ? "" : JSON.stringify(fields.result),
    fields.error ?? "",
    JSON.stringify(event),
    String(retainSeconds),
  );
  return done === 1;
}

/** queued -> running (with its status event), once. */
export async function markRunning(redis: Redis, keys: RedisKeys, job: string): Promise<void> {
  await redis.eval(
    `local s = redis.call('HGET', KEYS[1], 'status')
if s ~= 'queued' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'running', 'updatedAt', ARGV[1])
redis.call('XADD', KEYS[2], '*', 'type', 'status', 'data', '{"status":"running"}')
return 1`,
    2,
    keys.job(job),
    keys.events(job),
    new Date().toISOString(),
  );
}

/**
 * Stores a shard's result unless one is stored already or the job has ended (a cancelled or failed job takes no
 * result after its end, whichever host was still running a shard), with its shard-done event (counts only), and adds its
 * tallies to the job's counted sum number by number (any nesting of objects and arrays of numbers: the pointing
 * game's hits and misses, the faithfulness run's sums), dropping the shard's live tallies, in one step; true when
 * this one counts.
 */
export async function storeShardResult(
  redis: Redis,
  keys: RedisKeys,
  job: string,
  shard: number,
  result: string,
  event: string,
  tallies: string,
): Promise<boolean> {
  const stored = await redis.eval(
    `local s = redis.call('HGET', KEYS[4], 'status')
if s == 'done' or s == 'failed' or s == 'cancelled' then return 0 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'type', 'shard-done', 'data', ARGV[3])
local function add(into, from)
  for k, v in pairs(from) do
    if type(v) == 'table' and type(into[k]) == 'table' then add(into[k], v)
    elseif type(v) == 'number' and type(into[k]) == 'number' then into[k] = into[k] + v end
  end
end
local sum = cjson.decode(ARGV[4])
local counted = redis.call('HGET', KEYS[3], 'counted')
if counted then
  local part = sum
  sum = cjson.decode(counted)
  add(sum, part)
end
redis.call('HSET', KEYS[3], 'counted', cjson.encode(sum))
redis.call('HDEL', KEYS[3], 'live:' .. ARGV[1])
return 1`,
    4,
    keys.results(job),
    keys.events(job),
    keys.tallies(job),
    keys.job(job),
    String(shard),
    result,
    event,
    tallies,
  );
  return stored === 1;
}

/**
 * A running shard's latest report: its counts into the progress hash and its running tallies as the shard's
 * live tallies — only while `host` still holds the shard entry and no result is stored for it (a stalled host
 * waking up cannot overwrite the report of the host that took its shard over); true when written.
 */
export async function reportShardProgress(
  redis: Redis,
  keys: RedisKeys,
  job: string,
  shard: number,
  host: string,
  entry: string,
  progress: string,
  tallies: string,
): Promise<boolean> {
  const written = await redis.eval(
    `if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[4]) == 1 then return 0 end
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
redis.call('HSET', KEYS[4], 'live:' .. ARGV[4], ARGV[6])
return 1`,
    4,
    keys.shards,
    keys.results(job),
    keys.progress(job),
    keys.tallies(job),
    GROUP,
    host,
    entry,
    String(shard),
    progress,
    tallies,
  );
  return written === 1;
}

/**
 * Renews this host's claim on a pending shard entry (resets its idle time) if this host still owns it; false
 * when another host has taken it over (the visibility timeout passed), so the caller stops its copy.
 */
export async function renewClaim(
  redis: Redis,
  keys: RedisKeys,
  host: string,
  entry: string,
): Promise<boolean> {
  const owned = await redis.eval(
    `local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #p == 0 then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1`,
    1,
    keys.shards,
    GROUP,
    host,
    entry,
  );
  return owned === 1;
}

/** Whether `host` still holds a pending shard entry (without renewing it). */
export async function holdsClaim(
  redis: Redis,
  keys: RedisKeys,
  host: string,
  entry: string,
): Promise<boolean> {
  const pending = await redis.xpending(keys.shards, GROUP, entry, entry, 1, host) as unknown[];
  return pending.length > 0;
}

/** Host ids whose heartbeat is recent. */
export async function liveHosts(redis: Redis, keys: RedisKeys, now = Date.now()): Promise<string[]> {
  const all = await redis.hgetall(keys.hosts);
  return Object.entries(all).filter(([, t]) => now - Number(t) <= HOST_LIVE_MS).map(([h]) => h);
}

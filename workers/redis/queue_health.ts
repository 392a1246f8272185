/**
 * The Redis queue's state for /healthz: whether Redis answers (and the client's connection state when it does
 * not), the shard group's backlog (entries not yet handed to any host: XINFO GROUPS lag; handed out and not
 * acknowledged: pending), the live hosts, and this host's side (its cancel subscription and the shards its slots
 * run). Never throws: a Redis that does not answer within `timeoutMs` is reported as unreachable.
 */
import type { Redis } from "ioredis";
import { GROUP, liveHosts, type RedisKeys } from "./store.ts";
import type { CancelSubscriptionState } from "./cancel_subscription.ts";

export interface QueueHealth {
  kind: "redis";
  reachable: boolean;
  /** The client's connection state (ready, connecting, reconnecting, end, …). */
  connection: string;
  /** Shard entries not yet delivered to any host; null when unknown. */
  lag: number | null;
  /** Shard entries delivered and not yet acknowledged; null when unknown. */
  pending: number | null;
  liveHosts: string[] | null;
  host: {
    id: string;
    cancelSubscription: CancelSubscriptionState | null;
    slots: number;
    running: { job: string; shard: number }[];
  };
  error?: string;
}

/** XINFO GROUPS' reply for one group as an object (the reply is a flat name, value list). */
function groupInfo(reply: unknown, name: string): Record<string, unknown> | null {
  for (const group of (reply as unknown[][]) ?? []) {
    const info: Record<string, unknown> = {};
    for (let i = 0; i + 1 < group.length; i += 2) info[String(group[i])] = group[i + 1];
    if (info.name === name) return info;
  }
  return null;
}

export async function queueHealth(
  redis: Redis,
  keys: RedisKeys,
  host: QueueHealth["host"],
  timeoutMs = 1000,
): Promise<QueueHealth> {
  const base: QueueHealth = {
    kind: "redis",
    reachable: false,
    connection: redis.status,
    lag: null,
    pending: null,
    liveHosts: null,
    host,
  };
  if (redis.status !== "ready") return { ...base, error: `Redis is not connected (${redis.status})` };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const answered = Promise.all([
      redis.xinfo("GROUPS", keys.shards).catch((e: Error) => {
        if (/no such key/i.test(e.message)) return []; // no shard stream yet: nothing queued
        throw e;
      }),
      liveHosts(redis, keys),
    ]);
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    const [groups, hosts] = await Promise.race([answered, late]);
    const info = groupInfo(groups, GROUP);
    const count = (v: unknown) => (typeof v === "number" ? v : null);
    return {
      ...base,
      reachable: true,
      lag: info ? count(info.lag) : 0,
      pending: info ? count(info.pending) : 0,
      liveHosts: hosts.sort(),
    };
  } catch (e) {
    return { ...base, error: (e as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

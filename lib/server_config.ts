/**
 * Service configuration from the environment (flags may override later): where to listen and which
 * backend to use. Invalid values are errors that name the variable and what is valid.
 */
import { type BackendPreference, parseBackendPreference } from "./runtime/backend.ts";
import { DataRootsError, parseDataRoots } from "./service/evaluation_spec.ts";

function dataRoots(text: string | undefined) {
  try {
    return parseDataRoots(text);
  } catch (e) {
    throw new ConfigError((e as DataRootsError).message);
  }
}

export interface ServerConfig {
  host: string;
  port: number;
  backend: BackendPreference;
  /** RETRACE_WORKERS: explainer workers (default: the machine's cores). */
  workers: number;
  /** RETRACE_MODELS_DIR: where the model folders are (default "models"). */
  modelsDir: string;
  /** RETRACE_QUEUE: requests that may wait for a worker before 503 (default 16). */
  queueLimit: number;
  /** RETRACE_TIMEOUT_MS: per request (default 120000). */
  timeoutMs: number;
  /**
   * RETRACE_BATCH_WINDOW_MS: how long a saliency request waits for compatible ones to share its pass (0: never);
   * undefined ("auto", the default): per backend (workers/batcher.ts BATCH_WINDOW_AUTO).
   */
  batchWindowMs?: number;
  /** RETRACE_BATCH_MAX: most saliency requests in one pass (default 8). */
  batchMax: number;
  /** RETRACE_MAX_PIXELS: largest decoded image, width x height (default 25 000 000). */
  maxPixels: number;
  /** RETRACE_MAX_BODY: largest request body in bytes (default 32 MiB). */
  maxBodyBytes: number;
  /** RETRACE_API_KEY: when set, /v1 requires `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** RETRACE_CORS_ORIGIN: when set, CORS is allowed for that origin ("*" for any); off by default. */
  corsOrigin?: string;
  /** RETRACE_JOBS_DIR: evaluation jobs and their results files (default results/jobs). */
  jobsDir: string;
  /** RETRACE_MAX_JOBS: evaluations queued + running at once; more are refused with 429 (default 16). */
  maxJobs: number;
  /** RETRACE_JOB_RETAIN_S: seconds a finished evaluation is kept, locally or in Redis (default 7 days). */
  jobRetainSeconds: number;
  /** RETRACE_DATA_DIR: where the synthetic world lives or is generated (default data). */
  dataDir: string;
  /** RETRACE_SYNTHETIC_IMAGES: test images generated when the synthetic world is missing (default 1000). */
  syntheticImages: number;
  /** RETRACE_DATA_ROOTS: named real datasets, "voc07=/path/VOC2007,coco14=/path/coco". */
  dataRoots: { name: string; root: string }[];
  /** RETRACE_REDIS_URL: when set, evaluations are sharded over every instance attached to this Redis. */
  redisUrl?: string;
  /** Distributed evaluations (only with redisUrl). */
  redis: {
    /** RETRACE_REDIS_PREFIX: key prefix (default "retrace"). */
    prefix: string;
    /** RETRACE_HOST_ID: this instance's name in Redis (default hostname-pid). */
    hostId: string;
    /** RETRACE_SHARD_IMAGES: images per shard (default 25). */
    shardImages: number;
    /** RETRACE_SHARDS: shards when the accepting host cannot count the dataset (default 16). */
    defaultShards: number;
    /** RETRACE_SHARD_TIMEOUT_MS: a shard without progress this long goes to another host (default 60000). */
    visibilityMs: number;
    /** RETRACE_SHARD_SLOTS: shards this instance runs at once, one worker each (default 1). */
    slots: number;
    /** RETRACE_JOB_RETAIN_S: seconds a finished job stays in Redis (default 7 days; = jobRetainSeconds). */
    retainSeconds: number;
  };
}

/**
 * This instance's default name in Redis: the machine's name and the port it serves, the same after a restart
 * (so a restarted host is the same consumer, not one more); with PORT=0 (any free port) the process id instead.
 */
export function defaultHostId(port: number, hostname = safeHostname()): string {
  return port > 0 ? `${hostname}-${port}` : `${hostname}-pid${Deno.pid}`;
}

function safeHostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "host"; // no --allow-sys
  }
}

function redisUrl(text: string | undefined): string | undefined {
  if (!text) return undefined;
  if (!/^rediss?:\/\/[^\s]+$/.test(text)) {
    throw new ConfigError(
      `RETRACE_REDIS_URL must be redis://[user:password@]host:port[/db], got ${JSON.stringify(text)}`,
    );
  }
  return text;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function serverConfig(env: { get(key: string): string | undefined } = Deno.env): ServerConfig {
  const portText = env.get("PORT") ?? "8000";
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(
      `PORT must be an integer in 0..65535 (0 = any free port), got ${JSON.stringify(portText)}`,
    );
  }
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const text = env.get(name);
    if (text === undefined || text === "") return fallback;
    const v = Number(text);
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new ConfigError(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(text)}`);
    }
    return v;
  };
  const retainSeconds = int("RETRACE_JOB_RETAIN_S", 7 * 86_400, 1, 365 * 86_400);
  return {
    host: env.get("HOST") || "127.0.0.1",
    port,
    backend: parseBackendPreference(env.get("RETRACE_BACKEND")),
    workers: int("RETRACE_WORKERS", Math.max(1, navigator.hardwareConcurrency || 1), 1, 256),
    modelsDir: env.get("RETRACE_MODELS_DIR") || "models",
    queueLimit: int("RETRACE_QUEUE", 16, 0, 100_000),
    timeoutMs: int("RETRACE_TIMEOUT_MS", 120_000, 100, 3_600_000),
    batchWindowMs: env.get("RETRACE_BATCH_WINDOW_MS") === "auto"
      ? undefined
      : env.get("RETRACE_BATCH_WINDOW_MS")
      ? int("RETRACE_BATCH_WINDOW_MS", 0, 0, 60_000)
      : undefined,
    batchMax: int("RETRACE_BATCH_MAX", 8, 1, 64),
    maxPixels: int("RETRACE_MAX_PIXELS", 25_000_000, 1, 1_000_000_000),
    maxBodyBytes: int("RETRACE_MAX_BODY", 32 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    apiKey: env.get("RETRACE_API_KEY") || undefined,
    corsOrigin: env.get("RETRACE_CORS_ORIGIN") || undefined,
    jobsDir: env.get("RETRACE_JOBS_DIR") || "results/jobs",
    maxJobs: int("RETRACE_MAX_JOBS", 16, 1, 100_000),
    jobRetainSeconds: retainSeconds,
    dataDir: env.get("RETRACE_DATA_DIR") || "data",
    dataRoots: dataRoots(env.get("RETRACE_DATA_ROOTS")),
    syntheticImages: int("RETRACE_SYNTHETIC_IMAGES", 1000, 1, 100_000),
    redisUrl: redisUrl(env.get("RETRACE_REDIS_URL")),
    redis: {
      prefix: env.get("RETRACE_REDIS_PREFIX") || "retrace",
      hostId: env.get("RETRACE_HOST_ID") || defaultHostId(port),
      shardImages: int("RETRACE_SHARD_IMAGES", 25, 1, 1_000_000),
      defaultShards: int("RETRACE_SHARDS", 16, 1, 100_000),
      visibilityMs: int("RETRACE_SHARD_TIMEOUT_MS", 60_000, 500, 86_400_000),
      slots: int("RETRACE_SHARD_SLOTS", 1, 1, 64),
      retainSeconds,
    },
  };
}

/**
 * The Hono app of routes/app.ts with two fake models (a classifier and a captioner) and a fake worker pool that
 * records each job it is handed and answers with a canned worker reply, so request validation and error
 * mapping are tested without tfjs or a worker; `reached` says whether any request got as far as the pool.
 */
import type { Hono } from "hono";
import { createApp } from "../../routes/app.ts";
import type { BackendInfo } from "../../lib/runtime/backend.ts";
import type { ModelEntry } from "../../lib/models/registry.ts";
import type { WorkerPool } from "../../workers/pool.ts";

export interface StrictApp {
  app: Hono;
  /** The jobs handed to the pool, in order, with the API method called. */
  jobs: { call: "saliency" | "caption"; dir: string; job: Record<string, unknown> }[];
  /** What the fake worker answers next (default: a refusal the tests never expect to see). */
  reply: { value: unknown };
}

const BACKEND = {
  requested: "wasm",
  backend: "wasm",
  reason: "test",
  adapter: null,
  maxBindingBytes: Infinity,
  registeredKernels: [],
  wasmThreads: 1,
} as unknown as BackendInfo;

export function strictApp(
  options: {
    maxUrlLength?: number;
    maxBodyBytes?: number;
    uploadLimit?: number;
    apiKey?: string;
    corsOrigin?: string;
    log?: (line: string) => void;
  } = {},
): StrictApp {
  const jobs: StrictApp["jobs"] = [];
  const reply = {
    value: { error: { code: "internal", message: "the fake worker was not told what to answer" } },
  };
  const api = {
    saliency: (dir: string, job: Record<string, unknown>) => {
      jobs.push({ call: "saliency", dir, job });
      return Promise.resolve(reply.value);
    },
    caption: (dir: string, job: Record<string, unknown>) => {
      jobs.push({ call: "caption", dir, job });
      return Promise.resolve(reply.value);
    },
  };
  const pool = { run: (fn: (a: typeof api) => Promise<unknown>) => fn(api) } as unknown as WorkerPool;
  const entry = (name: string, kind: ModelEntry["kind"]) =>
    [name, { name, kind, dir: `/models/${name}`, manifest: {} } as unknown as ModelEntry] as const;
  const models = new Map([entry("net", "classifier"), entry("cap", "captioner")]);
  const app = createApp(BACKEND, {
    v1: { models, pool, maxPixels: 1_000_000, timeoutMs: 60_000 },
    log: () => {},
    ...options,
  });
  return { app, jobs, reply };
}

/**
 * What routes/evaluations.ts needs from an evaluation back end, so the HTTP layer is the same whether jobs run in
 * this process (workers/evaluations.ts) or are spread over many hosts through Redis (workers/redis/jobs.ts): job
 * views, an event stream that ends with the job's final event, and the two typed errors the routes turn into
 * 400 and 503 responses.
 */
import type { PointingResult } from "../lib/eval/pointing_run.ts";
import type { EvaluationSpec } from "../lib/service/evaluation_spec.ts";

export type JobStatus = "queued" | "running" | "done" | "failed" | "cancelled";

export const FINAL_STATUSES: readonly JobStatus[] = ["done", "failed", "cancelled"];

export interface JobProgress {
  done: number;
  total: number;
  imagesPerSecond?: number;
  etaSeconds?: number;
}

export interface JobView {
  id: string;
  spec: EvaluationSpec;
  status: JobStatus;
  createdAt: string;
  updatedAt: string;
  progress: JobProgress | null;
  result: PointingResult | null;
  error: string | null;
}

/** One Server-Sent Event: `id` is what a client sends back as Last-Event-ID. */
export interface StreamEvent {
  id: string;
  type: string;
  data: unknown;
}

/** The spec cannot run here (unknown model or dataset, …): HTTP 400. */
export class EvaluationRejected extends Error {
  override name = "EvaluationRejected";
}

/** The back end cannot take jobs now (Redis unreachable): HTTP 503. */
export class EvaluationsUnavailable extends Error {
  override name = "EvaluationsUnavailable";
}

export interface Evaluations {
  create(spec: EvaluationSpec): Promise<JobView>;
  get(id: string): Promise<JobView | undefined>;
  list(): Promise<JobView[]>;
  cancel(id: string): Promise<JobView | undefined>;
  /**
   * The job's events after `afterId` (all when undefined), then new ones as they come, ending after the job's
   * final event (done, failed or cancelled) or when `signal` aborts.
   */
  events(id: string, afterId: string | undefined, signal: AbortSignal): AsyncIterable<StreamEvent>;
  close(): Promise<void>;
}

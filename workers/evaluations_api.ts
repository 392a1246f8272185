/**
 * What routes/evaluations.ts needs from an evaluation back end, so the HTTP layer is the same whether jobs run in
 * this process (workers/evaluations.ts) or are spread over many hosts through Redis (workers/redis/jobs.ts): job
 * views, an event stream that ends with the job's final event, deletion, and the typed errors the routes turn
 * into 400/404, 429 and 503 responses.
 */
import type { EvaluationResult } from "../lib/eval/merge_results.ts";
import type { EvaluationSpec } from "../lib/service/evaluation_spec.ts";
import type { EvaluationErrorCode } from "../lib/service/check_evaluation.ts";

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
  result: EvaluationResult | null;
  error: string | null;
}

/** One Server-Sent Event: `id` is what a client sends back as Last-Event-ID. */
export interface StreamEvent {
  id: string;
  type: string;
  data: unknown;
}

/** The spec cannot run here (unknown model, layer or dataset, …): HTTP 400 (404 for unknown_model). */
export class EvaluationRejected extends Error {
  override name = "EvaluationRejected";
  constructor(message: string, readonly code: EvaluationErrorCode = "bad_evaluation") {
    super(message);
  }
}

/** RETRACE_MAX_JOBS jobs are queued or running: HTTP 429 with Retry-After. */
export class TooManyJobs extends Error {
  override name = "TooManyJobs";
  constructor(readonly max: number, readonly retryAfterSeconds: number) {
    super(
      `${max} evaluations are queued or running (RETRACE_MAX_JOBS); retry after one finishes or is deleted`,
    );
  }
}

/** Job ids are UUIDs; anything else names no job (and never reaches a path). */
export const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What DELETE did: cancelled a queued or running job (kept, final), or removed a finished one entirely. */
export interface DeleteOutcome {
  id: string;
  status: JobStatus;
  deleted: boolean;
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
   * A queued or running job is cancelled (deleted: false; it stays listed as cancelled); a finished one (done,
   * failed, cancelled) is removed with everything it stored (deleted: true), after which get() is undefined.
   */
  delete(id: string): Promise<DeleteOutcome | undefined>;
  /**
   * The job's events after `afterId` (all when undefined), then new ones as they come, ending after the job's
   * final event (done, failed or cancelled) or when `signal` aborts.
   */
  events(id: string, afterId: string | undefined, signal: AbortSignal): AsyncIterable<StreamEvent>;
  /** The queue's state for /healthz (never throws). */
  health?(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

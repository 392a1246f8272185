/**
 * A host's subscription to the cancel channel (a job cancelled or failed on any host is published there, so
 * every host stops that job's shards at once). It runs on a connection of its own, subscribes whenever that
 * connection becomes ready (the first time, and after every reconnection), and while it is not subscribed it
 * retries every `retryMs`, logging the first failure of each streak and the recovery; `state()` says where it
 * stands for /healthz. A subscribe issued before the connection is ready is refused by the client (its offline
 * queue is off): it is retried, never dropped; at start it waits for the connection (up to `retryMs`) first.
 */
import type { Redis } from "ioredis";

export interface CancelSubscriptionState {
  subscribed: boolean;
  /** Why the last attempt failed, while not subscribed. */
  error: string | null;
  /** Attempts that failed since the last success. */
  failures: number;
}

export class CancelSubscription {
  private readonly connection: Redis;
  private subscribed = false;
  private error: string | null = null;
  private failures = 0;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private attempting = false;

  constructor(
    redis: Redis,
    private readonly channel: string,
    onCancel: (job: string) => void,
    private readonly log: (level: "info" | "warn", message: string) => void = () => {},
    private readonly retryMs = 1000,
  ) {
    this.connection = redis.duplicate();
    this.connection.on("error", () => {}); // reconnection is automatic; attempts report their own failures
    this.connection.on("message", (ch: string, job: string) => {
      if (ch === this.channel) onCancel(job);
    });
    this.connection.on("ready", () => this.attempt());
    this.connection.on("close", () => {
      if (this.subscribed) this.log("warn", `cancel channel ${this.channel}: connection lost; resubscribing`);
      this.subscribed = false;
      this.error = "connection lost";
    });
  }

  /**
   * Subscribes now when the connection is ready; else its 'ready' event will (a fresh connection is still
   * connecting: that is no failure to report), and a first attempt after `retryMs` reports Redis being away.
   */
  start(): void {
    if (this.connection.status === "ready") this.attempt();
    else this.retry = setTimeout(() => this.attempt(), this.retryMs);
  }

  state(): CancelSubscriptionState {
    return {
      subscribed: this.subscribed,
      error: this.subscribed ? null : this.error,
      failures: this.failures,
    };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.connection.disconnect();
  }

  private attempt(): void {
    if (this.closed || this.subscribed || this.attempting) return;
    this.attempting = true;
    clearTimeout(this.retry);
    this.connection.subscribe(this.channel).then(
      () => {
        this.attempting = false;
        if (this.failures > 0) {
          this.log(
            "info",
            `cancel channel ${this.channel}: subscribed after ${this.failures} failed attempt(s)`,
          );
        }
        this.subscribed = true;
        this.error = null;
        this.failures = 0;
      },
      (e: Error) => {
        this.attempting = false;
        this.error = e.message;
        if (this.failures++ === 0) {
          this.log("warn", `cancel channel ${this.channel}: cannot subscribe (${e.message}); retrying`);
        }
        if (!this.closed) this.retry = setTimeout(() => this.attempt(), this.retryMs);
      },
    );
  }
}

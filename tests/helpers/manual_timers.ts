/**
 * A manual clock for the timers a ShardConsumer takes (workers/redis/shard_consumer.ts, ClaimTimers): nothing
 * fires until the test calls `advance`, which moves the clock on and runs every timer that falls due, in order
 * of due time. With it, a test decides when a claim is checked or a read counts as stalled, whatever the load.
 */
import type { ClaimTimers } from "../../workers/redis/shard_consumer.ts";

interface Timer {
  at: number;
  every: number | null;
  fn: () => void;
}

export class ManualTimers implements ClaimTimers {
  private now = 0;
  private next = 1;
  private readonly timers = new Map<number, Timer>();

  setTimeout(fn: () => void, ms: number): number {
    return this.add({ at: this.now + ms, every: null, fn });
  }

  setInterval(fn: () => void, ms: number): number {
    if (!(ms > 0)) throw new Error(`an interval needs a positive period, not ${ms}`);
    return this.add({ at: this.now + ms, every: ms, fn });
  }

  clearTimeout(id: unknown): void {
    this.timers.delete(id as number);
  }

  clearInterval(id: unknown): void {
    this.timers.delete(id as number);
  }

  private add(timer: Timer): number {
    const id = this.next++;
    this.timers.set(id, timer);
    return id;
  }

  /** Timers set and not yet fired (intervals count until cleared). */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves the clock on by `ms`, running every timer due by then (an interval as often as it falls due). */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let due: [number, Timer] | null = null;
      for (const entry of this.timers) {
        if (entry[1].at <= end && (!due || entry[1].at < due[1].at)) due = entry;
      }
      if (!due) break;
      const [id, timer] = due;
      this.now = timer.at;
      if (timer.every === null) this.timers.delete(id);
      else timer.at += timer.every;
      timer.fn();
    }
    this.now = end;
  }
}

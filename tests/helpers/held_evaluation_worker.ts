/**
 * A stand-in for workers/evaluation_worker.ts in tests of the local job store: no tfjs, no dataset. A run writes
 * a one-line results file, reports its start and then holds until the test finishes it by posting the job id on
 * the BroadcastChannel FINISH_CHANNEL (finishHeldJob), so a test decides exactly when a job ends.
 */
import * as Comlink from "comlink";
import type { PointingEvent } from "../../lib/eval/pointing_run.ts";

export const FINISH_CHANNEL = "held-evaluation-finish";

/** Lets the held run of job `id` end with "done". */
export function finishHeldJob(id: string): void {
  const channel = new BroadcastChannel(FINISH_CHANNEL);
  channel.postMessage(id);
  channel.close();
}

const api = {
  async run(
    _backend: string,
    _modelDir: string,
    _dataset: unknown,
    _spec: unknown,
    resultsPath: string,
    onEvent: (ev: PointingEvent) => void,
  ): Promise<{ refused?: string }> {
    const id = resultsPath.replace(/^.*\//, "").replace(/\.jsonl$/, "");
    const channel = new BroadcastChannel(FINISH_CHANNEL);
    const finished = new Promise<void>((resolve) => {
      channel.onmessage = (e) => e.data === id && resolve();
    });
    try {
      await Deno.writeTextFile(resultsPath, `${JSON.stringify({ type: "header" })}\n`);
      await onEvent({ type: "start", total: 1, done: 0, labels: [] });
      await finished;
    } finally {
      channel.close();
    }
    return {};
  },
};

Comlink.expose(api);

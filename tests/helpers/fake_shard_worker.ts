/**
 * A stand-in for workers/evaluation_worker.ts in tests/redis_shard_consumer_test.ts: no tfjs, no dataset. Shard i
 * of a job reports a start and one image, then finishes with a result whose one label has i + 1 hits and 1 miss
 * on class 0 (so merged numbers can be checked by hand). Loaded with `?hang`, its shard 0 of a job whose spec
 * names the model "hang" (every shard of one naming "hang-all") reports the start and the image and then never
 * answers (a wedged worker).
 */
import * as Comlink from "comlink";
import type { PointingEvent, PointingResult } from "../../lib/eval/pointing_run.ts";
import type { RunExtras } from "../../workers/evaluation_worker.ts";
import type { EvaluationSpec } from "../../lib/service/evaluation_spec.ts";

export const FAKE_LABEL = "fake@layer";
const hangs = new URL(import.meta.url).searchParams.has("hang");

/** What shard `index` of `count` returns. */
export function fakeShardResult(index: number, count: number): PointingResult {
  const all = { hits: [index + 1, 0], misses: [1, 0] };
  return {
    config: { labels: [FAKE_LABEL], classes: ["a", "b"] },
    shard: { index, count },
    images: 1,
    problems: [],
    accuracy: { [FAKE_LABEL]: { all: 0, difficult: 0 } },
    perClass: { [FAKE_LABEL]: { all: [0, 0], difficult: [0, 0] } },
    tallies: { [FAKE_LABEL]: { all, difficult: { hits: [0, 0], misses: [0, 0] } } },
  };
}

const api = {
  async run(
    _backend: string,
    _modelDir: string,
    _dataset: unknown,
    spec: EvaluationSpec,
    _resultsPath: string,
    onEvent: (ev: PointingEvent) => void,
    extras: RunExtras = {},
  ): Promise<{ refused?: string }> {
    const { index, count } = extras.shard ?? { index: 0, count: 1 };
    const result = fakeShardResult(index, count);
    const all = result.tallies[FAKE_LABEL].all;
    await onEvent({ type: "start", total: 2, done: 0, labels: [FAKE_LABEL] });
    await onEvent({
      type: "image",
      key: `image-${index}`,
      done: 1,
      total: 2,
      problems: 0,
      imagesPerSecond: 1,
      etaSeconds: 1,
      accuracy: result.accuracy,
      classAccuracy: { [FAKE_LABEL]: [0, 0] },
      classCounts: { [FAKE_LABEL]: [all.hits[0] + all.misses[0], 0] },
      tallies: result.tallies,
    });
    if (hangs && ((spec.model === "hang" && index === 0) || spec.model === "hang-all")) {
      await new Promise(() => {});
    }
    await onEvent({ type: "done", result });
    return {};
  },
};

Comlink.expose(api);

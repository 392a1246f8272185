/**
 * The results file's start (lib/eval/results_file.ts): a new file appears with its header already in it (written
 * to a temporary file and renamed: a kill cannot leave a file without one), and a file that a kill cut before its
 * header was complete — empty, or a header line without its newline — starts the run afresh instead of failing
 * every resume with "no header line". A whole header with another configuration is still refused.
 */
import assert from "node:assert/strict";
import { readResultsFile, ResultsFileError, ResultsWriter } from "../lib/eval/results_file.ts";

const CONFIG = { labels: ["centre"], classes: ["a", "b"], dataset: "test" };
const SHARD = { index: 0, count: 1 };

async function inTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "retrace-results-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("results file: created with its header in place, no temporary file left", async () => {
  await inTemp(async (dir) => {
    const { writer, existing } = await ResultsWriter.open(`${dir}/r.jsonl`, CONFIG, SHARD);
    writer.close();
    assert.deepEqual(existing, []);
    const parsed = await readResultsFile(`${dir}/r.jsonl`);
    assert.deepEqual(parsed.config, CONFIG);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["r.jsonl"]);
  });
});

Deno.test("results file: a kill during the header (empty file, torn header) resumes as a fresh start", async () => {
  const header = JSON.stringify({ type: "header", config: CONFIG, shard: SHARD });
  for (const [what, content] of [["empty", ""], ["torn header", header.slice(0, 25)]] as const) {
    await inTemp(async (dir) => {
      await Deno.writeTextFile(`${dir}/r.jsonl`, content);
      const { writer, existing } = await ResultsWriter.open(`${dir}/r.jsonl`, CONFIG, SHARD);
      writer.close();
      assert.deepEqual(existing, [], what);
      assert.deepEqual(
        (await readResultsFile(`${dir}/r.jsonl`)).config,
        CONFIG,
        `${what}: a whole header now`,
      );
    });
  }
});

Deno.test("results file: a whole header of another run is still refused", async () => {
  await inTemp(async (dir) => {
    const other = JSON.stringify({ type: "header", config: { ...CONFIG, dataset: "other" }, shard: SHARD });
    await Deno.writeTextFile(`${dir}/r.jsonl`, other + "\n");
    await assert.rejects(ResultsWriter.open(`${dir}/r.jsonl`, CONFIG, SHARD), ResultsFileError);
  });
});

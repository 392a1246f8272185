/**
 * An evaluation run's results file (JSON lines): a header naming the run's configuration, then one line per
 * image, appended and flushed as soon as the image is scored (the pointing game's records below; the
 * faithfulness run's in lib/eval/faithfulness_record.ts). It is the run's only state: a run killed at any
 * moment (kill -9 included) resumes by reading it back — a torn last line is cut off, every complete line is
 * counted exactly once — and shards of one run merge by reading their files together.
 *
 *   {"type":"header","config":{...},"shard":{"index":0,"count":1}}
 *   {"type":"image","key":"300001","classes":[[3,1,0],[7,1,1]],"hits":{"gradient@layer4":[1,0]}}
 *       classes: [classIndex, counted in "all" (0/1), counted in "difficult" (0/1)] per class present;
 *       hits: per label, 1/0 per entry of `classes` (the same point serves both subsets)
 *   {"type":"problem","key":"300002","message":"…"}
 */
import { PointingTally } from "./pointing.ts";

export interface RunConfig {
  /** What was evaluated: dataset, model, labels, classes … any JSON; two runs resume/merge only if equal. */
  [key: string]: unknown;
  labels: string[];
  classes: string[];
}

export interface Shard {
  index: number;
  count: number;
}

export interface ImageRecord {
  type: "image";
  key: string;
  classes: [number, 0 | 1, 0 | 1][];
  hits: Record<string, (0 | 1)[]>;
}

export interface ProblemRecord {
  type: "problem";
  key: string;
  message: string;
}

export type ResultRecord = ImageRecord | ProblemRecord;

export class ResultsFileError extends Error {
  override name = "ResultsFileError";
}

export interface LabelTallies {
  all: PointingTally;
  difficult: PointingTally;
}

/** Per-label tallies and the keys seen, rebuilt from records (each key counted once). */
export class RunState {
  readonly tallies = new Map<string, LabelTallies>();
  readonly done = new Set<string>();
  readonly problems: ProblemRecord[] = [];
  images = 0;

  constructor(readonly config: RunConfig) {
    for (const label of config.labels) {
      const k = config.classes.length;
      this.tallies.set(label, { all: new PointingTally(k), difficult: new PointingTally(k) });
    }
  }

  /** Adds a record; a key already counted is ignored (a redelivered or duplicated line). */
  add(record: ResultRecord): boolean {
    if (this.done.has(record.key)) return false;
    this.done.add(record.key);
    if (record.type === "problem") {
      this.problems.push(record);
      return true;
    }
    this.images++;
    for (const [label, t] of this.tallies) {
      const hits = record.hits[label];
      if (!hits || hits.length !== record.classes.length) {
        throw new ResultsFileError(`image ${record.key}: no or wrong-length hits for label ${label}`);
      }
      record.classes.forEach(([k, inAll, inDifficult], i) => {
        if (inAll) t.all.record(k, hits[i] === 1);
        if (inDifficult) t.difficult.record(k, hits[i] === 1);
      });
    }
    return true;
  }
}

function sameConfig(a: RunConfig, b: RunConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** What every record of a results file has: a type ("problem", "image", …) and the image's key. */
export interface KeyedRecord {
  type: string;
  key: string;
}

interface ParsedFile<R extends KeyedRecord> {
  config: RunConfig;
  shard: Shard;
  records: R[];
  /** Byte length of the complete lines (a torn last line is beyond it). */
  validBytes: number;
}

/** Reads a results file; a last line without its newline (a write cut by a kill) is dropped. */
export async function readResultsFile<R extends KeyedRecord = ResultRecord>(
  path: string,
): Promise<ParsedFile<R>> {
  const bytes = await Deno.readFile(path);
  const end = bytes.lastIndexOf(0x0a) + 1;
  const lines = new TextDecoder().decode(bytes.subarray(0, end)).split("\n").filter((l) => l.length > 0);
  if (lines.length === 0) throw new ResultsFileError(`${path}: no header line`);
  const parse = (line: string, i: number) => {
    try {
      return JSON.parse(line);
    } catch (e) {
      throw new ResultsFileError(`${path} line ${i + 1}: ${(e as Error).message}`);
    }
  };
  const header = parse(lines[0], 0);
  if (header.type !== "header" || !header.config || !header.shard) {
    throw new ResultsFileError(`${path}: the first line is not a results header`);
  }
  const records = lines.slice(1).map((l, i) => parse(l, i + 1) as R);
  return { config: header.config, shard: header.shard, records, validBytes: end };
}

/** Appends records to a results file, one flushed line each. */
export class ResultsWriter<R extends KeyedRecord = ResultRecord> {
  private constructor(private readonly file: Deno.FsFile) {}

  /**
   * Opens `path` for a run: creates it with a header, or — when it exists — checks its configuration and shard
   * equal these, cuts a torn last line and returns the records already there (the run resumes after them).
   */
  static async open<R extends KeyedRecord = ResultRecord>(
    path: string,
    config: RunConfig,
    shard: Shard,
  ): Promise<{ writer: ResultsWriter<R>; existing: R[] }> {
    let existing: R[] = [];
    let exists = true;
    try {
      // A file without one whole line was cut by a kill before its header was complete (only a file made
      // before the header was written at creation could be so): nothing was recorded, so the run starts afresh.
      const bytes = await Deno.readFile(path);
      if (!bytes.includes(0x0a)) {
        await Deno.remove(path);
        exists = false;
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      exists = false;
    }
    if (exists) {
      const parsed = await readResultsFile<R>(path);
      if (!sameConfig(parsed.config, config)) {
        throw new ResultsFileError(
          `${path} holds a run with a different configuration; use another results file or the same options`,
        );
      }
      if (parsed.shard.index !== shard.index || parsed.shard.count !== shard.count) {
        throw new ResultsFileError(
          `${path} holds shard index ${parsed.shard.index} of ${parsed.shard.count} (--shard ${
            parsed.shard.index + 1
          }/${parsed.shard.count}), not index ${shard.index} of ${shard.count} (--shard ${
            shard.index + 1
          }/${shard.count})`,
        );
      }
      await Deno.truncate(path, parsed.validBytes);
      existing = parsed.records;
    }
    if (!exists) {
      // The header is written to a temporary file renamed into place: the results file never exists without it.
      const temp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
      await Deno.writeTextFile(temp, JSON.stringify({ type: "header", config, shard }) + "\n");
      const f = await Deno.open(temp, { write: true });
      await f.syncData();
      f.close();
      await Deno.rename(temp, path);
    }
    const file = await Deno.open(path, { append: true });
    return { writer: new ResultsWriter<R>(file), existing };
  }

  async write(record: R | { type: "header"; config: RunConfig; shard: Shard }): Promise<void> {
    const data = new TextEncoder().encode(JSON.stringify(record) + "\n");
    let off = 0;
    while (off < data.length) off += await this.file.write(data.subarray(off));
    await this.file.syncData();
  }

  close(): void {
    this.file.close();
  }
}

/** Merges the results files of a run's shards (same configuration; each image counted once). */
export async function mergeResultsFiles(paths: readonly string[]): Promise<RunState> {
  if (paths.length === 0) throw new ResultsFileError("no results files to merge");
  const files = await Promise.all(paths.map(readResultsFile));
  const state = new RunState(files[0].config);
  files.forEach((f, i) => {
    if (!sameConfig(f.config, files[0].config)) {
      throw new ResultsFileError(`${paths[i]} is from a different run than ${paths[0]}`);
    }
    f.records.forEach((r) => state.add(r));
  });
  return state;
}

/**
 * `deno task caption-eval`: the shipped captioner on the synthetic test split (issue 6): greedy and beam captions
 * against the reference captions (exact match, per-word accuracy), and word-level pointing of the caption's shape
 * words (selective NormGrad at layer3.0 / layer4.0 / layer4 and their product with linear weights; hit = within
 * 15 px of that class's boxes). Markdown + JSON reports in --out.
 *
 *   deno task caption-eval --limit 200 --beam 3
 */
import { parseArgs } from "node:util";
import { initBackend } from "../lib/runtime/backend.ts";
import { loadCaptioner, pooledFeature } from "../lib/caption/captioner.ts";
import { beamSearch } from "../lib/caption/search.ts";
import { COMBINED, wordPointing } from "../lib/caption/word_pointing.ts";
import { CAPTION_LAYERS } from "../lib/caption/explain.ts";
import { CaptionPartsTally } from "../lib/caption/caption_parts.ts";
import { toInputTensor } from "../lib/image/preprocess.ts";
import { decodeImage } from "../lib/image/decode.ts";
import { vocSamples } from "../lib/eval/voc.ts";
import { formatDuration } from "./progress.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", default: "models/captioner_synthetic" },
    data: { type: "string", default: "data/synthetic" },
    split: { type: "string", default: "test" },
    limit: { type: "string", default: "200" },
    beam: { type: "string", default: "3" },
    method: { type: "string", default: "selective-normgrad" },
    out: { type: "string", default: "results" },
  },
});
const limit = Number(values.limit);
const beam = Number(values.beam);
const backend = await initBackend();
const captioner = await loadCaptioner(values.model);
const refs = new Map<number, string>(
  JSON.parse(await Deno.readTextFile(`${values.data}/coco/annotations/captions_${values.split}2014.json`))
    .annotations
    .map((a: { image_id: number; caption: string }) => [a.image_id, a.caption]),
);
const labels = [...CAPTION_LAYERS, COMBINED];
type Tally = {
  exact: number;
  wordHits: number;
  words: number;
  point: Record<string, [number, number]>;
  parts: CaptionPartsTally;
};
const tally = (): Tally => ({
  exact: 0,
  wordHits: 0,
  words: 0,
  point: Object.fromEntries(labels.map((l) => [l, [0, 0]])),
  parts: new CaptionPartsTally(),
});
const modes: Record<string, Tally> = { greedy: tally(), [`beam${beam}`]: tally() };
const started = performance.now();
let n = 0;
const examples: string[] = [];
for await (const s of vocSamples(`${values.data}/VOCdevkit/VOC2007`, values.split)) {
  if (n >= limit) break;
  if ("problem" in s) continue;
  const image = decodeImage(await Deno.readFile(s.imagePath), s.imagePath);
  const input = toInputTensor(image, captioner.manifest.inputSize, captioner.manifest.preprocess);
  const pooled = pooledFeature(captioner, input);
  input.dispose();
  const ref = refs.get(Number(s.id)) ?? "";
  for (const [mode, t] of Object.entries(modes)) {
    const hyp = await beamSearch(captioner.decoder, pooled, {
      maxLength: captioner.manifest.decoder.maxLength,
      beamSize: mode === "greedy" ? 1 : beam,
    });
    const words = hyp.tokens.map((k) => captioner.decoder.vocabulary[k - 1]);
    const refWords = ref.split(" ");
    t.exact += words.join(" ") === ref ? 1 : 0;
    t.wordHits += words.filter((w, i) => w === refWords[i]).length;
    t.words += Math.max(words.length, refWords.length);
    t.parts.add(words, refWords);
    if (mode === "greedy" && examples.length < 8) {
      examples.push(`- ${s.id}: "${words.join(" ")}" (reference "${ref}")`);
    }
    if (hyp.tokens.length > 0) {
      for (const w of await wordPointing(captioner, image, s.annotation.objects, hyp.tokens, values.method)) {
        for (const l of labels) t.point[l][w.hits[l] ? 0 : 1]++;
      }
    }
  }
  pooled.dispose();
  n++;
  if (n % 10 === 0) {
    const sec = (performance.now() - started) / 1000;
    console.error(
      `${n}/${limit} images, ${formatDuration(sec)}, greedy exact ${
        (100 * modes.greedy.exact / n).toFixed(1)
      }%`,
    );
  }
}
const seconds = (performance.now() - started) / 1000;
const pct = (a: number, b: number) => (b ? (100 * a / b).toFixed(1) : "-");
const rows = Object.entries(modes).map(([mode, t]) =>
  `| ${mode} | ${pct(t.exact, n)} | ${pct(t.wordHits, t.words)} | ${
    labels.map((l) =>
      `${pct(t.point[l][0], t.point[l][0] + t.point[l][1])} (${t.point[l][0] + t.point[l][1]})`
    ).join(" | ")
  } |`
);
const partRates = Object.values(modes).map((t) => t.parts.rates());
const partRows = partRates[0].map((r, i) =>
  `| ${r.part} | ${
    partRates.map((rates) => `${pct(rates[i].right, rates[i].of)} (${rates[i].of})`).join(" | ")
  } |`
);
const md = `# Captioner: ${captioner.manifest.name} on ${values.split} (${n} images)\n\n` +
  `| decoding | exact match % | per-word accuracy % | ${
    labels.map((l) => `pointing ${l} % (words)`).join(" | ")
  } |\n` +
  `|---|---|---|${labels.map(() => "---").join("|")}|\n${rows.join("\n")}\n\n` +
  `Pointing: per-word ${values.method} maps of each shape word naming a class in the image; hit = first maximum ` +
  `within 15 px of that class's boxes.\n\n## Caption parts\n\n` +
  `| part | ${Object.keys(modes).map((m) => `${m} % right (of)`).join(" | ")} |\n` +
  `|---|${Object.keys(modes).map(() => "---").join("|")}|\n${partRows.join("\n")}\n\n` +
  `Each reference noun phrase ("a SIZE COLOUR CLASS", largest object first) against the hypothesis's phrase at ` +
  `the same position (a missing one is wrong); chance is 1/3 for size, 1/12 for colour and class. The relation ` +
  `is scored where the reference has one.\n\nGreedy examples:\n\n${examples.join("\n")}\n\n` +
  `${formatDuration(seconds)} on ${backend.backend}.\n`;
await Deno.mkdir(values.out, { recursive: true });
const base = `${values.out}/caption-${captioner.manifest.name}`;
await Deno.writeTextFile(`${base}.md`, md);
const json = Object.fromEntries(Object.entries(modes).map(([m, t]) => [m, { ...t, parts: t.parts.rates() }]));
await Deno.writeTextFile(`${base}.json`, JSON.stringify({ images: n, modes: json, seconds }, null, 1) + "\n");
console.log(md);
captioner.dispose();
Deno.exit(0);

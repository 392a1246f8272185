/**
 * Subprocess for tests/shipped_models_test.ts, captioners: the shipped captioner on its committed test slice
 * (images regenerated in memory, decoded and preprocessed by lib/image, wasm): pooled features vs PyTorch's, the
 * greedy captions vs PyTorch's, and the teacher-forced log-probabilities of the reference captions. Prints one
 * JSON line {images, worstPooled, worstLogp, sameGreedy}. Ends with Deno.exit (see shipped_slice.ts).
 *   deno run -A tests/helpers/shipped_caption_slice.ts models/captioner_synthetic
 */
import { initBackend } from "../../lib/runtime/backend.ts";
import { tf } from "../../lib/runtime/tf.ts";
import { decodeImage } from "../../lib/image/decode.ts";
import { toInputTensor } from "../../lib/image/preprocess.ts";
import { getFloatTensor, readSafetensors } from "../../lib/nets/safetensors.ts";
import { loadCaptioner, pooledFeature } from "../../lib/caption/captioner.ts";
import { beamSearch } from "../../lib/caption/search.ts";
import { generateImage } from "../../lib/synthetic/image.ts";
import { splitOfId } from "../../lib/synthetic/ids.ts";

const dir = Deno.args[0];
await initBackend("wasm");
const captioner = await loadCaptioner(dir);
const slice = readSafetensors(await Deno.readFile(`${dir}/test_slice.safetensors`), dir);
const ids: number[] = JSON.parse(slice.metadata.ids).map(Number);
const pooledRef = getFloatTensor(slice, "pooled");
const refLogp = getFloatTensor(slice, "reference_logp");
const ints = (name: string) => {
  const t = slice.tensors.get(name)!;
  return { shape: t.shape, data: Array.from(t.data as BigInt64Array, Number) };
};
const greedyRef = ints("greedy_tokens");
const refTokens = ints("reference_tokens");
const seed = Number((captioner.manifest.training as { world_seed?: number }).world_seed ?? 0);
const c = pooledRef.shape[1];
let worstPooled = 0, worstLogp = 0, sameGreedy = 0;
for (const [i, id] of ids.entries()) {
  const { split, index } = splitOfId(id);
  const image = generateImage(seed, split, index);
  const input = toInputTensor(
    decodeImage(image.jpeg!, `${id}`),
    captioner.manifest.inputSize,
    captioner.manifest.preprocess,
  );
  const pooled = pooledFeature(captioner, input);
  const ours = pooled.dataSync();
  for (let j = 0; j < c; j++) {
    const want = pooledRef.data[i * c + j];
    worstPooled = Math.max(worstPooled, Math.abs(ours[j] - want) / Math.max(1, Math.abs(want)));
  }
  const g = await beamSearch(captioner.decoder, pooled, { maxLength: captioner.manifest.decoder.maxLength });
  const row = greedyRef.data.slice(i * greedyRef.shape[1], (i + 1) * greedyRef.shape[1]);
  const refWords = row.slice(0, row.indexOf(0) < 0 ? row.length : row.indexOf(0));
  if (refWords.join() === g.tokens.join()) sameGreedy++;
  const rt = refTokens.data.slice(i * refTokens.shape[1], (i + 1) * refTokens.shape[1]).filter((t) => t > 0);
  const lp = tf.tidy(() => captioner.decoder.teacherForced(pooled, rt));
  const lpData = lp.dataSync();
  const [steps, v] = [refLogp.shape[1], refLogp.shape[2]];
  for (let t = 0; t <= rt.length; t++) {
    for (let k = 0; k < v; k++) {
      const want = refLogp.data[(i * steps + t) * v + k];
      worstLogp = Math.max(worstLogp, Math.abs(lpData[t * v + k] - want));
    }
  }
  tf.dispose([input, pooled, lp]);
}
console.log(JSON.stringify({ images: ids.length, worstPooled, worstLogp, sameGreedy }));
Deno.exit(0);

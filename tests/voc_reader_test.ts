/**
 * The VOC reader on hand-made annotations: fields, 1-based boxes and flags as written, a class whose every
 * object is difficult, and missing or corrupt annotations reported by image id while the stream goes on.
 */
import assert from "node:assert/strict";
import { parseVocAnnotation, VocFormatError, vocSamples } from "../lib/eval/voc.ts";
import { thrown } from "./helpers/errors.ts";

const XML = `<?xml version="1.0"?>
<annotation><folder>VOC2007</folder><filename>000001.jpg</filename>
<size><width>353</width><height>500</height><depth>3</depth></size>
<object><name>dog</name><pose>Left</pose><truncated>1</truncated><difficult>0</difficult>
<bndbox><xmin>48</xmin><ymin>240</ymin><xmax>195</xmax><ymax>371</ymax></bndbox></object>
<object><name>person</name><truncated>0</truncated><difficult>1</difficult>
<bndbox><xmin>8</xmin><ymin>12</ymin><xmax>352</xmax><ymax>498</ymax></bndbox></object>
</annotation>`;

Deno.test("parses size, objects, 1-based boxes and flags", () => {
  const a = parseVocAnnotation(XML);
  assert.deepEqual([a.filename, a.width, a.height], ["000001.jpg", 353, 500]);
  assert.deepEqual(a.objects, [
    { name: "dog", box: { xmin: 48, ymin: 240, xmax: 195, ymax: 371 }, difficult: false, truncated: true },
    { name: "person", box: { xmin: 8, ymin: 12, xmax: 352, ymax: 498 }, difficult: true, truncated: false },
  ]);
});

Deno.test("bad annotations are VocFormatErrors naming what is wrong", () => {
  assert.match(thrown(() => parseVocAnnotation("<annotation><size>"), VocFormatError).message, /well-formed/);
  assert.match(thrown(() => parseVocAnnotation("<foo/>"), VocFormatError).message, /<annotation>/);
  const noWidth = XML.replace("<width>353</width>", "");
  assert.match(thrown(() => parseVocAnnotation(noWidth), VocFormatError).message, /width/);
  const badBox = XML.replace("<xmin>48</xmin>", "<xmin>4.5</xmin>");
  assert.match(thrown(() => parseVocAnnotation(badBox), VocFormatError).message, /xmin must be an integer/);
});

Deno.test("the stream reports missing and corrupt annotations by id and carries on", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${root}/ImageSets/Main`, { recursive: true });
    await Deno.mkdir(`${root}/Annotations`);
    await Deno.writeTextFile(`${root}/ImageSets/Main/test.txt`, "000001\n000002\n000003\n");
    await Deno.writeTextFile(`${root}/Annotations/000001.xml`, XML);
    await Deno.writeTextFile(`${root}/Annotations/000003.xml`, "<annotation>");
    const seen = [];
    for await (const s of vocSamples(root, "test")) seen.push(s);
    assert.equal(seen.length, 3);
    assert.ok("annotation" in seen[0] && seen[0].imagePath.endsWith("JPEGImages/000001.jpg"));
    assert.ok("problem" in seen[1] && /000002\.xml/.test(seen[1].problem));
    assert.ok("problem" in seen[2] && /000003\.xml.*well-formed/.test(seen[2].problem));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

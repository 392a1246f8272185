// Caption parts: parsing the synthetic grammar back into noun phrases and relation, and the per-part tally,
// against hand-worked captions.
import assert from "node:assert/strict";
import { captionParts, CaptionPartsTally } from "../lib/caption/caption_parts.ts";

const w = (s: string) => s.split(" ");

Deno.test("captionParts reads every noun phrase and the relation", () => {
  assert.deepEqual(
    captionParts(
      w("a medium pink diamond left of a small orange pentagon with a small yellow arrow and a small blue triangle"),
    ),
    {
      objects: [
        { size: "medium", colour: "pink", cls: "diamond" },
        { size: "small", colour: "orange", cls: "pentagon" },
        { size: "small", colour: "yellow", cls: "arrow" },
        { size: "small", colour: "blue", cls: "triangle" },
      ],
      relation: "left of",
    },
  );
  assert.deepEqual(captionParts(w("a large grey square below a medium red cross")).relation, "below");
  assert.deepEqual(captionParts(w("a small brown star")), {
    objects: [{ size: "small", colour: "brown", cls: "star" }],
    relation: null,
  });
  // A truncated phrase is not an object; an empty caption has no parts.
  assert.deepEqual(captionParts(w("a small brown")), { objects: [], relation: null });
  assert.deepEqual(captionParts([]), { objects: [], relation: null });
});

Deno.test("CaptionPartsTally counts each part against the reference, position by position", () => {
  const t = new CaptionPartsTally();
  // 1: exact, one object.
  t.add(w("a small brown star"), w("a small brown star"));
  // 2: colour wrong on the first object, relation wrong, second object's class wrong.
  t.add(w("a large red square above a medium red ring"), w("a large grey square left of a medium red cross"));
  // 3: one object too few: the missing second object is wrong in all three attributes.
  t.add(w("a medium white star"), w("a medium white star right of a small green crescent"));
  const got = Object.fromEntries(t.rates().map((r) => [r.part, [r.right, r.of]]));
  assert.deepEqual(got, {
    "object count": [2, 3],
    "size, first object": [3, 3],
    "colour, first object": [2, 3],
    "class, first object": [3, 3],
    "size, other objects": [1, 2],
    "colour, other objects": [1, 2],
    "class, other objects": [0, 2],
    "relation": [0, 2],
    "exact, 1-object captions": [1, 1],
    "exact, 2+-object captions": [0, 2],
  });
});

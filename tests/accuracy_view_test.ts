/**
 * The web page's evaluation panel text (routes/ui/accuracy_view.js), on hand-computed cases: the final number is
 * TorchRay's mean over all classes; a running or partial run says what its mean averages; a class with no
 * instance is shown as "–", never as a 0% bar.
 */
import assert from "node:assert/strict";
import { accuracyView, instancesOf } from "../routes/ui/accuracy_view.js";

const classes = ["circle", "star", "square", "hexagon"];
// hits / instances: circle 2/2, star none, square 1/2, hexagon 0/1
const classAccuracy = [1, 0, 0.5, 0];
const instances = [2, 0, 2, 1];
const meanAll = (1 + 0 + 0.5 + 0) / 4; // 0.375, TorchRay's: star counts as 0

Deno.test("a running evaluation averages over the classes seen so far and says so", () => {
  const v = accuracyView({
    label: "gradient@layer4",
    classes,
    classAccuracy,
    instances,
    meanAll,
    final: false,
  });
  // (1 + 0.5 + 0) / 3 seen classes
  assert.equal(v.title, "per-class accuracy, gradient@layer4: 50.0% mean over 3 of 4 classes seen so far");
  assert.deepEqual(v.rows.map((r) => [r.name, r.accuracy, r.text]), [
    ["circle", 1, "100%"],
    ["star", null, "–"],
    ["square", 0.5, "50%"],
    ["hexagon", 0, "0%"], // seen and missed: a real 0%
  ]);
  assert.equal(v.rows[1].tip, "no instance yet");
  assert.equal(v.rows[2].tip, "1 of 2 instances hit");
});

Deno.test("the final number is TorchRay's mean over all classes, with what it counts as 0 named", () => {
  const v = accuracyView({
    label: "gradient@layer4",
    classes,
    classAccuracy,
    instances,
    meanAll,
    final: true,
  });
  assert.equal(
    v.title,
    "per-class accuracy, gradient@layer4: 37.5% mean over all 4 classes (TorchRay's mean, counting the 1 of 4 " +
      "classes with no instance as 0; 50.0% over the 3 seen)",
  );
  assert.equal(v.rows[1].text, "–");
  assert.equal(v.rows[1].tip, "no instance in this run");
});

Deno.test("the issue's case: 5 images, every instance hit, 5 of 20 classes present", () => {
  const names = Array.from({ length: 20 }, (_, k) => `c${k}`);
  const acc = names.map((_, k) => (k < 5 ? 1 : 0));
  const n = names.map((_, k) => (k < 5 ? 1 : 0));
  const running = accuracyView({
    label: "l",
    classes: names,
    classAccuracy: acc,
    instances: n,
    meanAll: 0.25,
    final: false,
  });
  assert.equal(running.title, "per-class accuracy, l: 100.0% mean over 5 of 20 classes seen so far");
  assert.equal(running.rows.filter((r) => r.text === "0%").length, 0, "no class drawn as 0%");
  const final = accuracyView({
    label: "l",
    classes: names,
    classAccuracy: acc,
    instances: n,
    meanAll: 0.25,
    final: true,
  });
  assert.match(
    final.title,
    /^per-class accuracy, l: 25\.0% mean over all 20 classes \(TorchRay's mean, counting the 15 of 20 classes with no instance as 0; 100\.0% over the 5 seen\)$/,
  );
});

Deno.test("every class seen: the final title is the plain mean; nothing seen yet says so", () => {
  const all = accuracyView({
    label: "l",
    classes: ["a", "b"],
    classAccuracy: [1, 0.5],
    instances: [1, 2],
    meanAll: 0.75,
    final: true,
  });
  assert.equal(all.title, "per-class accuracy, l: 75.0% mean over all 2 classes");
  const none = accuracyView({
    label: "l",
    classes: ["a", "b"],
    classAccuracy: [0, 0],
    instances: [0, 0],
    meanAll: 0,
    final: false,
  });
  assert.equal(none.title, "per-class accuracy, l: no instance yet");
  assert.deepEqual(none.rows.map((r) => r.accuracy), [null, null]);
});

Deno.test("without per-class counts a running mean says it counts unseen classes as 0 and draws no 0% bar", () => {
  const v = accuracyView({ label: "l", classes, classAccuracy, instances: null, meanAll, final: false });
  assert.equal(
    v.title,
    "per-class accuracy, l: 37.5% mean over all 4 classes so far (a class with no instance yet counts as 0)",
  );
  assert.deepEqual(v.rows.map((r) => r.text), ["100%", "–", "50%", "–"]);
});

Deno.test("instances come from classCounts or from tallies (hits + misses), else null", () => {
  assert.deepEqual(instancesOf({ classCounts: { l: [2, 0] } }, "l"), [2, 0]);
  assert.deepEqual(instancesOf({ tallies: { l: { all: { hits: [1, 0, 2], misses: [1, 0, 3] } } } }, "l"), [
    2,
    0,
    5,
  ]);
  assert.equal(instancesOf({ classAccuracy: { l: [1, 0] } }, "l"), null);
  assert.equal(instancesOf({ tallies: { other: { all: { hits: [1], misses: [0] } } } }, "l"), null);
});

/**
 * Subprocess for tests/ui_browser_test.ts (playwright-core needs --allow-all): drives the page at <base> in
 * Debian's chromium and prints one JSON line of what the page showed.
 *   deno run -A tests/helpers/ui_flow.ts explain http://127.0.0.1:PORT /path/to/image.jpg
 *     upload <image>, explain it with the default methods at layer3 + layer4, caption it, pick a sample image
 *     (what the old image showed must go), then start a 3-image pointing run and wait for it, recording every
 *     title the accuracy panel showed on the way.
 *   deno run -A tests/helpers/ui_flow.ts faithfulness http://127.0.0.1:PORT -
 *     pick a sample, explain it by integrated gradients through a SmoothGrad noise tunnel with the page's option
 *     inputs (the request body is recorded), then start a 2-image faithfulness run of grad-cam at layer4 and wait
 *     for its table and plots.
 *   deno run -A tests/helpers/ui_flow.ts key http://127.0.0.1:PORT KEY
 *     load the page of a server that wants KEY (an "unauthorized" error shows), type the key, let it load.
 * Every wait is bounded and fails naming what it waited for.
 */
import { chromium, type Page } from "playwright-core";

const [scenario, base, arg] = Deno.args;

/** page.waitForFunction with a timeout, failing with `what` in the message. */
async function waitFor(
  page: Page,
  what: string,
  fn: Parameters<Page["waitForFunction"]>[0],
  fnArg: unknown,
  timeout = 60_000,
) {
  try {
    await page.waitForFunction(fn, fnArg, { timeout });
  } catch (e) {
    throw new Error(`waited ${timeout / 1000} s for ${what}: ${(e as Error).message.split("\n")[0]}`);
  }
}

async function explain(page: Page, image: string) {
  await page.waitForSelector("#samples img", { timeout: 30_000 });
  await page.setInputFiles("#file", image);
  await page.waitForSelector("#preview[src^='data:']", { state: "attached", timeout: 30_000 });
  await page.selectOption("#layers", ["layer3", "layer4"]);
  await page.click("#go");
  await waitFor(page, "4 map canvases", () => document.querySelectorAll("#maps canvas").length === 4, null);
  const seen: Record<string, unknown> = {
    model: await page.locator("#model").inputValue(),
    canvases: await page.locator("#maps canvas").count(),
    error: await page.locator("#err").textContent(),
    firstCaption: await page.locator("#maps figcaption").first().textContent(),
  };
  await page.click("#capGo");
  await waitFor(
    page,
    "a caption's words",
    () => document.querySelectorAll("#words span").length > 0,
    null,
    120_000,
  );
  seen.captionWords = await page.locator("#words span").count();
  seen.fileBeforeSample = await page.locator("#file").inputValue();
  // pick a sample: the file box, the old maps, predictions and caption describe another image now
  const before = await page.locator("#preview").getAttribute("src");
  await page.locator("#samples img").first().click();
  await waitFor(
    page,
    "the sample in the preview",
    (b) => document.querySelector("#preview")?.getAttribute("src") !== b,
    before,
  );
  seen.afterSample = {
    file: await page.locator("#file").inputValue(),
    preds: await page.locator("#preds").textContent(),
    maps: await page.locator("#maps canvas").count(),
    words: await page.locator("#words span").count(),
    wordsText: await page.locator("#words").textContent(),
    capMaps: await page.locator("#capMaps canvas").count(),
  };
  // every title the accuracy panel shows, including those replaced within one task
  await page.evaluate(() => {
    const titles: string[] = [];
    (globalThis as unknown as { titles: string[] }).titles = titles;
    new MutationObserver((records) => {
      for (const r of records) for (const n of r.addedNodes) titles.push(n.textContent ?? "");
    }).observe(document.querySelector("#barsTitle")!, { childList: true });
  });
  await page.fill("#evalLimit", "3");
  const posted = page.waitForResponse((r) =>
    r.url().endsWith("/v1/evaluations") && r.request().method() === "POST"
  );
  await page.click("#evalGo");
  const job = await (await posted).json();
  await waitFor(
    page,
    "the run's done",
    () => document.querySelector("#evalText")?.textContent?.includes("done"),
    null,
    120_000,
  );
  seen.jobId = job.id;
  seen.evalText = await page.locator("#evalText").textContent() ?? "";
  seen.bars = await page.locator("#bars div").count();
  seen.barsTitle = await page.locator("#barsTitle").textContent() ?? "";
  seen.rows = await page.locator("#bars div").evaluateAll((divs) =>
    divs.map((d) => ({
      name: d.children[0].textContent,
      text: d.children[2].textContent,
      unseen: d.classList.contains("unseen"),
      barWidth: d.children[1].getBoundingClientRect().width, // as drawn, in pixels
    }))
  );
  seen.titles = await page.evaluate(() => (globalThis as unknown as { titles: string[] }).titles);
  return seen;
}

async function faithfulness(page: Page) {
  await page.waitForSelector("#samples img", { timeout: 30_000 });
  await page.locator("#samples img").first().click();
  await page.waitForSelector("#preview[src]", { state: "attached", timeout: 30_000 });
  await page.selectOption("#layers", ["layer4"]);
  await page.selectOption("#methods", ["integrated-gradients"]);
  await page.selectOption("#noiseKind", "smoothgrad");
  await page.fill("#noiseSamples", "2");
  await page.fill("#igSteps", "4");
  const asked = page.waitForRequest((r) => r.url().endsWith("/v1/saliency"));
  await page.click("#go");
  const saliencyBody = JSON.parse((await asked).postData() ?? "null");
  await waitFor(
    page,
    "1 map canvas",
    () => document.querySelectorAll("#maps canvas").length === 1,
    null,
    120_000,
  );
  await page.selectOption("#evalKind", "faithfulness");
  await page.selectOption("#evalMethod", "grad-cam");
  await page.selectOption("#evalMetrics", ["deletion", "insertion", "road"]);
  await page.fill("#evalLimit", "2");
  const posted = page.waitForResponse((r) =>
    r.url().endsWith("/v1/evaluations") && r.request().method() === "POST"
  );
  await page.click("#evalGo");
  const response = await posted;
  const job = await response.json();
  await waitFor(
    page,
    "the run's done",
    () => document.querySelector("#evalText")?.textContent?.includes("done"),
    null,
    180_000,
  );
  return {
    saliencyBody,
    evaluationBody: JSON.parse(response.request().postData() ?? "null"),
    jobId: job.id,
    evalText: await page.locator("#evalText").textContent() ?? "",
    table: await page.locator("#faithTable tr").evaluateAll((rows) =>
      rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent))
    ),
    plots: await page.locator("#faithPlots svg").count(),
  };
}

async function key(page: Page, key: string) {
  await waitFor(
    page,
    "the unauthorized error",
    () => /unauthorized/.test(document.querySelector("#err")?.textContent ?? ""),
    null,
    30_000,
  );
  const seen: Record<string, unknown> = { errorBefore: await page.locator("#err").textContent() };
  await page.fill("#key", key);
  await page.press("#key", "Tab"); // commits the key: "change"
  await page.waitForSelector("#model option", { state: "attached", timeout: 30_000 });
  await page.waitForSelector("#samples img", { timeout: 30_000 });
  seen.models = await page.locator("#model option").count();
  seen.errorAfter = await page.locator("#err").textContent();
  return seen;
}

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const pageErrors: string[] = [];
  const failedRequests: string[] = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("response", (r) => {
    if (r.status() >= 400) failedRequests.push(`${r.status()} ${new URL(r.url()).pathname}`);
  });
  await page.goto(base);
  let seen;
  if (scenario === "explain") {
    await page.waitForSelector("#model option", { state: "attached", timeout: 30_000 });
    seen = await explain(page, arg);
  } else if (scenario === "key") {
    seen = await key(page, arg);
  } else if (scenario === "faithfulness") {
    await page.waitForSelector("#model option", { state: "attached", timeout: 30_000 });
    seen = await faithfulness(page);
  } else {
    throw new Error(`unknown scenario ${JSON.stringify(scenario)}: explain, faithfulness or key`);
  }
  console.log(JSON.stringify({ ...seen, pageErrors, failedRequests }));
} finally {
  await browser.close();
}

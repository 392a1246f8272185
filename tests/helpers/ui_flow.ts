/**
 * Subprocess for tests/ui_browser_test.ts (playwright-core needs --allow-all): drives the page at <base> in
 * Debian's chromium — upload <image>, explain it with the default methods at layer3 + layer4, start a 3-image
 * pointing run and wait for it — then prints one JSON line of what the page showed.
 *   deno run -A tests/helpers/ui_flow.ts http://127.0.0.1:PORT /path/to/image.jpg
 */
import { chromium } from "playwright-core";

const [base, image] = Deno.args;
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const pageErrors: string[] = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(base);
  await page.waitForSelector("#model option", { state: "attached" });
  await page.waitForSelector("#samples img");
  await page.setInputFiles("#file", image);
  await page.waitForSelector("#preview[src^='data:']", { state: "attached" });
  await page.selectOption("#layers", ["layer3", "layer4"]);
  await page.click("#go");
  await page.waitForFunction(() => document.querySelectorAll("#maps canvas").length === 4, null, {
    timeout: 60_000,
  });
  const seen = {
    model: await page.locator("#model").inputValue(),
    canvases: await page.locator("#maps canvas").count(),
    error: await page.locator("#err").textContent(),
    firstCaption: await page.locator("#maps figcaption").first().textContent(),
    evalText: "",
    bars: 0,
    barsTitle: "",
    pageErrors,
  };
  await page.fill("#evalLimit", "3");
  await page.click("#evalGo");
  await page.waitForFunction(() => document.querySelector("#evalText")?.textContent?.includes("done"), null, {
    timeout: 120_000,
  });
  seen.evalText = await page.locator("#evalText").textContent() ?? "";
  seen.bars = await page.locator("#bars div").count();
  seen.barsTitle = await page.locator("#barsTitle").textContent() ?? "";
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}

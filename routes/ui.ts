/**
 * The web page at / (routes/ui/index.html: plain HTML + module scripts, no build step), its script modules
 * /ui/accuracy_view.js and /ui/faithfulness_view.js, its icon /favicon.ico (an SVG), and the sample images it offers: GET /v1/samples lists
 * the first synthetic test images (when the world exists), GET /v1/samples/{id} serves one — only ids from that
 * list, never a path.
 */
import { Hono } from "hono";
import { apiError, echo } from "./errors.ts";

const read = (name: string) => Deno.readTextFile(new URL(`./ui/${name}`, import.meta.url));
const PAGE = await read("index.html");
const ACCURACY_VIEW = await read("accuracy_view.js");
const FAITHFULNESS_VIEW = await read("faithfulness_view.js");
const ICON = await read("favicon.svg");
const DAY = "public, max-age=86400";

export function uiRoutes(dataDir: string, count = 12): Hono {
  const app = new Hono();
  const voc = `${dataDir}/synthetic/VOCdevkit/VOC2007`;
  let ids: string[] | null = null;
  const sampleIds = async () => {
    if (ids) return ids;
    try {
      const list = await Deno.readTextFile(`${voc}/ImageSets/Main/test.txt`);
      ids = list.split("\n").map((l) => l.trim()).filter(Boolean).slice(0, count);
    } catch {
      return []; // no world yet: try again next time
    }
    return ids;
  };
  app.get("/", (c) => c.html(PAGE));
  app.get("/ui/accuracy_view.js", (c) => c.body(ACCURACY_VIEW, 200, { "content-type": "text/javascript" }));
  app.get(
    "/ui/faithfulness_view.js",
    (c) => c.body(FAITHFULNESS_VIEW, 200, { "content-type": "text/javascript" }),
  );
  app.get(
    "/favicon.ico",
    (c) => c.body(ICON, 200, { "content-type": "image/svg+xml", "cache-control": DAY }),
  );
  app.get(
    "/v1/samples",
    async (c) => c.json({ samples: (await sampleIds()).map((id) => ({ id, url: `/v1/samples/${id}` })) }),
  );
  app.get("/v1/samples/:id", async (c) => {
    const id = c.req.param("id");
    if (!(await sampleIds()).includes(id)) {
      return apiError(c, "not_found", `no sample ${echo(id)}; see GET /v1/samples`);
    }
    return c.body(await Deno.readFile(`${voc}/JPEGImages/${id}.jpg`), 200, { "content-type": "image/jpeg" });
  });
  return app;
}

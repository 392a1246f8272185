/**
 * The zod-openapi validation hook shared by the routers: a request that fails its schema gets 400
 * `{error: {code: "invalid_request", message}}`, the message listing each bad field and why.
 */
import type { Hook } from "@hono/zod-openapi";

// deno-lint-ignore no-explicit-any
export const validationHook: Hook<any, any, any, any> = (result, c) => {
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ");
    return c.json({ error: { code: "invalid_request", message: issues } }, 400);
  }
};

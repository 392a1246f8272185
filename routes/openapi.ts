/**
 * The OpenAPI document's own fields (the paths come from the routers' definitions): the title, version and the
 * table of error codes with their statuses (routes/errors.ts), also as `x-error-codes`.
 */
import { ERROR_CODES, errorCodeTable } from "./errors.ts";
import { VERSION } from "../lib/version.ts";

export const OPENAPI_DOCUMENT = {
  openapi: "3.0.0",
  info: {
    title: "retrace",
    version: VERSION,
    description: 'Every error is `{"error": {"code", "message"}}` with one of these codes, always ' +
      "with its status; the message names the field and its rule.\n\n" + errorCodeTable(),
  },
  "x-error-codes": ERROR_CODES,
};

import express, { type RequestHandler } from "express";
import { AppError } from "../errors.ts";

export const NOT_UTF8_JSON = "The request body's encoding or character set is not supported; send plain UTF-8 JSON.";

/** The `charset` parameter of a Content-Type header, unquoted and lower-cased; undefined when it has none. */
function charsetOf(contentType: string): string | undefined {
  for (const parameter of contentType.split(";").slice(1)) {
    const [name = "", ...value] = parameter.split("=");
    if (name.trim().toLowerCase() === "charset") return value.join("=").trim().replace(/^"(.*)"$/, "$1").toLowerCase();
  }
  return undefined;
}

const parseJson = express.json({ limit: "100kb" });

/**
 * Reads a JSON body (100 kB at most) sent in UTF-8, the only encoding JSON has (RFC 8259 §8.1). Any other charset
 * is refused with 415 before a byte is read (docs/security.md H2): body-parser refuses only what does not start
 * with "utf-", and decodes UTF-7 and UTF-16 as it was told, so a body could say what no filter of plain text saw.
 */
export const jsonBody: RequestHandler = (req, res, next) => {
  if (req.is("application/json")) {
    const charset = charsetOf(req.get("content-type") ?? "");
    if (charset !== undefined && charset !== "utf-8") return next(new AppError(415, "unsupported_media_type", NOT_UTF8_JSON));
  }
  parseJson(req, res, next);
};

import busboy from "busboy";
import type { NextFunction, Request, Response } from "express";
import { AppError } from "../errors.ts";

/** A file sent in a multipart form: its bytes, cut off at the limit (`truncated`) rather than refused. */
export interface UploadedFile {
  field: string;
  filename: string;
  bytes: Buffer;
  truncated: boolean;
}

/**
 * Reads a multipart/form-data form (one file and a few text fields) before the CSRF check, which then finds
 * `_csrf` among the fields as in any other form (docs/security.md §2.5); the origin check runs as for every POST.
 * The file is kept in memory up to `maxFileBytes`; a larger file is read to its end but only flagged `truncated`,
 * so that the page can say "larger than 10 MB" beside its form instead of a bare 413. Only administrators'
 * files are kept at all: anyone else's upload is read and discarded, and their request refused further on.
 * A request body beyond `maxRequestBytes` is cut off with a 413.
 */
export function fileUpload(options: { maxFileBytes: number; maxRequestBytes: number }) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method !== "POST" || !req.is("multipart/form-data")) return void next();
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        defParamCharset: "utf8",
        limits: { files: 1, fileSize: options.maxFileBytes, fields: 20, fieldSize: 10_000, parts: 25 },
      });
    } catch {
      return void next(new AppError(400, "bad_request", "The form could not be read."));
    }
    const keepFiles = req.user?.isAdmin === true;
    const fields: Record<string, string | string[]> = Object.create(null);
    let received = 0;
    let finished = false;
    const finish = (error?: unknown) => {
      if (finished) return;
      finished = true;
      req.unpipe(parser);
      if (error) {
        req.resume();
        return next(error);
      }
      req.body = fields;
      next();
    };

    parser.on("field", (name, value) => {
      const previous = fields[name];
      // Sent twice, the field becomes a list, which the route's strict schema refuses (docs/security.md A15).
      fields[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
    });
    parser.on("file", (name, stream, info) => {
      if (!keepFiles) return void stream.resume();
      const parts: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => parts.push(chunk));
      stream.on("end", () => {
        res.locals.uploadedFile = {
          field: name,
          filename: info.filename ?? "",
          bytes: Buffer.concat(parts),
          truncated: (stream as unknown as { truncated?: boolean }).truncated === true,
        } satisfies UploadedFile;
      });
    });
    parser.on("error", () => finish(new AppError(400, "bad_request", "The form could not be read: the upload was cut off or malformed.")));
    parser.on("close", () => finish());
    req.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > options.maxRequestBytes) finish(new AppError(413, "too_large", "The request is too large."));
    });
    req.on("aborted", () => finish(new AppError(400, "bad_request", "The upload was cut off.")));
    req.pipe(parser);
  };
}

/** The file a `fileUpload` form carried, if any. */
export function uploadedFile(res: Response): UploadedFile | undefined {
  return res.locals.uploadedFile as UploadedFile | undefined;
}

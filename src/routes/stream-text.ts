import type { Response } from "express";
import type { Logger } from "../lib/logger.ts";

/** Resolves true once the response can take more, false if the client went away first. */
function drained(res: Response): Promise<boolean> {
  return new Promise((resolve) => {
    const settle = (ok: boolean) => () => {
      res.off("drain", onDrain);
      res.off("close", onClose);
      resolve(ok);
    };
    const onDrain = settle(true);
    const onClose = settle(false);
    res.once("drain", onDrain);
    res.once("close", onClose);
  });
}

/**
 * Writes text chunks to the response as they come, in constant memory: after a write the socket's buffer cannot
 * take, it waits for 'drain' before asking for the next chunk, and it stops asking (which stops the database reads
 * behind `chunks`) as soon as the client goes away. `begin` sets the headers, just before the first byte.
 *
 * A failure after the first byte cannot become an error page any more; the response is cut off instead of ended,
 * so the client sees an incomplete download rather than a file that only looks complete.
 *
 * `beforeEnd` runs once every chunk is written and before the response ends, so what it does is done by the time
 * the client holds the whole file; if it fails, the response is cut off like any other failure.
 */
export async function streamText(
  res: Response,
  chunks: AsyncIterable<string>,
  begin: () => void,
  logger: Logger,
  beforeEnd?: () => Promise<void>,
): Promise<void> {
  let gone = false;
  const onClose = () => {
    gone = true;
  };
  res.on("close", onClose);
  try {
    for await (const chunk of chunks) {
      if (gone || res.destroyed) break;
      if (!res.headersSent) begin();
      if (!res.write(chunk) && !(await drained(res))) break;
    }
    if (!gone && !res.destroyed) {
      if (!res.headersSent) begin();
      await beforeEnd?.();
      res.end();
    }
  } catch (error) {
    if (!res.headersSent) throw error;
    logger.error({ err: error }, "download failed part way; the response was cut off");
    res.destroy(error as Error);
  } finally {
    res.off("close", onClose);
  }
}

/** "gatehouse-users-2026-12-03T13-15-42Z.csv": dated, and free of characters a file system or a header minds. */
export function datedFileName(stem: string, extension: string, now = new Date()): string {
  return `${stem}-${now.toISOString().slice(0, 19).replace(/:/g, "-")}Z.${extension}`;
}

/** Headers of a CSV attachment, set just before its first byte. */
export function beginCsv(res: Response, fileName: string): () => void {
  return () => {
    res.status(200);
    res.set("Content-Type", "text/csv; charset=utf-8");
    res.set("Content-Disposition", `attachment; filename="${fileName}"`);
  };
}

/**
 * Streams a download that is itself an audit event (the log, the users, the access report): recorded once its last
 * row is read and before the response ends, so the record is there by the time the file is, and recorded as well
 * when the client leaves part-way.
 */
export async function streamAuditedDownload(
  res: Response,
  chunks: AsyncIterable<string>,
  begin: () => void,
  logger: Logger,
  record: () => Promise<void>,
): Promise<void> {
  let recorded = false;
  const recordOnce = async () => {
    if (recorded) return;
    recorded = true;
    await record();
  };
  await streamText(res, chunks, begin, logger, recordOnce);
  await recordOnce();
}

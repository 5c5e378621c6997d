import pino, { type Logger, type LoggerOptions } from "pino";

export type { Logger };

/** How log lines are written: JSON for collectors, one readable line per event for a person at a terminal. */
export type LogFormat = "json" | "pretty";

/** LOG_FORMAT when set; otherwise pretty on a terminal and JSON lines on anything else (a pipe, a file, a collector). */
export function chooseLogFormat(forced: LogFormat | undefined, stdoutIsTerminal: boolean): LogFormat {
  return forced ?? (stdoutIsTerminal ? "pretty" : "json");
}

const OPTIONS: LoggerOptions = {
  redact: {
    paths: [
      "req.headers.cookie",
      "req.headers.authorization",
      'res.headers["set-cookie"]',
      "*.password",
      "*.currentPassword",
      "*.confirmPassword",
    ],
    censor: "------",
  },
};

export function createLogger(level: string, format: LogFormat = "json"): Logger {
  if (format === "json") return pino({ ...OPTIONS, level });
  // pino-pretty runs as pino's transport (a worker thread), so formatting never slows a request; redaction happens
  // before a line leaves this thread. One line per event: the fields follow the message on the same line.
  return pino({
    ...OPTIONS,
    level,
    transport: {
      target: "pino-pretty",
      options: {
        singleLine: true,
        translateTime: "SYS:HH:MM:ss.l",
        // A request's line reads as one: "request completed: GET /login 200 12 ms from 127.0.0.1".
        messageFormat: "{msg}{if req}: {req.method} {req.path} {res.status} {responseTime} ms from {req.ip}{end}",
        ignore: "pid,hostname,req,res,responseTime",
        destination: 1,
      },
    },
  });
}

/** Errors that carry an HTTP status and a stable code; the error handler renders them. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type FieldErrors = Record<string, string>;

export class ValidationError extends AppError {
  constructor(
    readonly fields: FieldErrors,
    message = "Some fields need attention.",
    status = 422,
  ) {
    super(status, "validation_failed", message);
  }
}

export class NotFoundError extends AppError {
  constructor(message = "This page does not exist.") {
    super(404, "not_found", message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = "You do not have permission to do that.") {
    super(403, "forbidden", message);
  }
}

export class ConflictError extends AppError {
  constructor(
    message: string,
    readonly fields: FieldErrors = {},
  ) {
    super(409, "conflict", message);
  }
}

/** Optimistic-lock failure: someone else saved the record since the form was loaded. */
export class StaleWriteError<T = unknown> extends AppError {
  constructor(readonly current: T) {
    super(409, "stale_write", "Someone else changed this record after you opened it.");
  }
}

export class TooManyRequestsError extends AppError {
  constructor(
    readonly retryAfterSeconds: number,
    message = "Too many attempts. Try again later.",
  ) {
    super(429, "too_many_requests", message);
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message = "The service is temporarily unavailable. Try again in a moment.") {
    super(503, "unavailable", message);
  }
}

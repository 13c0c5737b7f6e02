/**
 * Every error this service raises on purpose, each with a stable code and an HTTP status.
 * The HTTP error middleware turns them into `{error: {code, message, details}}`.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input failed validation (400). `details` lists each field and what was wrong with it. */
export class ValidationError extends AppError {
  constructor(message: string, details?: unknown) {
    super("E_VALIDATION", message, 400, details);
  }
}

/** No or unknown credentials (401). */
export class UnauthorizedError extends AppError {
  constructor(message = "A valid API key is required: send 'Authorization: Bearer <key>'") {
    super("E_UNAUTHORIZED", message, 401);
  }
}

/** Valid credentials that do not cover the resource (403). */
export class ForbiddenError extends AppError {
  constructor(message: string) {
    super("E_FORBIDDEN", message, 403);
  }
}

/** The route or resource does not exist (404). */
export class NotFoundError extends AppError {
  constructor(message: string) {
    super("E_NOT_FOUND", message, 404);
  }
}

/** A dependency (database, cache) did not answer in time or is down (503). */
export class DependencyUnavailableError extends AppError {
  constructor(dependency: string, message: string, cause?: unknown) {
    super("E_DEPENDENCY_UNAVAILABLE", message, 503, { dependency }, { cause });
  }
}

/** Another instance is running the scheduled cache cleanup right now (409): retry after it finishes. */
export class CleanupRunningError extends AppError {
  constructor() {
    super("E_CLEANUP_RUNNING", "another instance is running the cache cleanup right now: retry in a moment", 409);
  }
}

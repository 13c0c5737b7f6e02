import { AppError } from "../../errors.ts";

/** Too many requests for one API key in the current window (429). */
export class TooManyRequestsError extends AppError {
  constructor(message: string) {
    super("E_RATE_LIMITED", message, 429);
  }
}

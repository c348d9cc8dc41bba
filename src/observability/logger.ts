import pino from 'pino';

export type Logger = pino.Logger;

/** Structured JSON logs. Secrets in headers and variables are redacted. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'postline' },
      redact: {
        paths: ['req.headers.authorization', '*.password', '*.token', 'variables.password'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/** What a request's code logs with: the levels, bound to the request's id. */
export interface RequestLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * A request's logger, whose pino child (with `requestId` bound) is made on first use: most
 * requests never log. A plain object, not a getter on the context: Yoga copies the context with
 * `Object.assign`, which would call a getter, and so make the child, on every request.
 */
export class LazyRequestLogger implements RequestLogger {
  #child: Logger | undefined;
  readonly #parent: Logger;
  readonly #requestId: string;

  constructor(parent: Logger, requestId: string) {
    this.#parent = parent;
    this.#requestId = requestId;
  }

  /** The pino child logger, made now if it was not yet. */
  get child(): Logger {
    this.#child ??= this.#parent.child({ requestId: this.#requestId });
    return this.#child;
  }

  debug(obj: object, msg?: string): void {
    this.child.debug(obj, msg);
  }
  info(obj: object, msg?: string): void {
    this.child.info(obj, msg);
  }
  warn(obj: object, msg?: string): void {
    this.child.warn(obj, msg);
  }
  error(obj: object, msg?: string): void {
    this.child.error(obj, msg);
  }
}

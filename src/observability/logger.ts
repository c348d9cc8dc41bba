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

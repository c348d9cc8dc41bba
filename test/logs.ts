/** The app's log lines, captured and parsed, for tests that check what an operator would read. */
import { Writable } from 'node:stream';
import { createLogger } from '../src/observability/logger.ts';

/** A logger (level `warn`) for `createTestApp(..., { logger })` and the lines it writes. */
export function captureLogs() {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger('warn', stream) };
}

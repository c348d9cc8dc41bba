/**
 * Everything the harness starts registers a stop function here, so that a normal end, an
 * error and Ctrl-C all leave no server, load worker or changed data behind.
 */
type Stopper = () => Promise<void>;

interface Entry {
  name: string;
  stop: Stopper;
  last: boolean;
  running?: Promise<void>;
}

const entries: Entry[] = [];

function run(entry: Entry): Promise<void> {
  entry.running ??= entry.stop().catch((err: Error) => {
    process.stderr.write(`bench: stopping ${entry.name} failed: ${err.message}\n`);
  });
  return entry.running;
}

/**
 * Registers `stop`; returns a function that runs it once (later calls, and `cleanupAll`,
 * wait for that same run) and unregisters it when done. `last` entries (data clean-up) run
 * after every process is stopped, so no request still in flight can write after them.
 */
export function onCleanup(
  name: string,
  stop: Stopper,
  options: { last?: boolean } = {},
): () => Promise<void> {
  const entry: Entry = { name, stop, last: options.last ?? false };
  entries.push(entry);
  return async () => {
    await run(entry);
    const i = entries.indexOf(entry);
    if (i >= 0) entries.splice(i, 1);
  };
}

/** Stops everything still registered, newest first, waiting for stops already under way. */
export async function cleanupAll(): Promise<void> {
  const newestFirst = [...entries].reverse();
  for (const entry of newestFirst.filter((e) => !e.last)) await run(entry);
  for (const entry of newestFirst.filter((e) => e.last)) await run(entry);
  entries.length = 0;
}

let interrupted = false;
/** True once Ctrl-C (or SIGTERM) asked the harness to stop. */
export const wasInterrupted = () => interrupted;
/** On SIGINT/SIGTERM: stop what was started, then exit with 130. */
export function installSignalHandlers(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (interrupted) return;
      interrupted = true;
      process.stderr.write(`\nbench: ${signal}, stopping everything it started...\n`);
      void cleanupAll().finally(() => process.exit(130));
    });
  }
}

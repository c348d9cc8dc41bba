/**
 * Everything the harness starts registers a stop function here, so that a normal end, an
 * error and Ctrl-C all leave no server, load worker or database behind.
 */
type Stopper = () => Promise<void>;

const stoppers: { name: string; stop: Stopper }[] = [];

/** Registers `stop`; returns a function that runs it once and unregisters it. */
export function onCleanup(name: string, stop: Stopper): () => Promise<void> {
  const entry = { name, stop };
  stoppers.push(entry);
  return async () => {
    const i = stoppers.indexOf(entry);
    if (i < 0) return;
    stoppers.splice(i, 1);
    await stop();
  };
}

/** Stops everything still registered, newest first. */
export async function cleanupAll(): Promise<void> {
  while (stoppers.length) {
    const entry = stoppers.pop()!;
    await entry.stop().catch((err: Error) => {
      process.stderr.write(`bench: stopping ${entry.name} failed: ${err.message}\n`);
    });
  }
}

let interrupted = false;
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

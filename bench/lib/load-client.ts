/** Parent side of the load worker: forks it once, sends runs over IPC, awaits figures. */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './cleanup.ts';
import type { LoadRequest, LoadResult, ParentMessage, WorkerMessage } from './types.ts';

const workerPath = fileURLToPath(new URL('./load-worker.ts', import.meta.url));

export class LoadGenerator {
  private child: ChildProcess;
  private nextId = 1;
  private pending = new Map<
    number,
    { resolve(r: LoadResult): void; reject(e: Error): void; onWarm(): void }
  >();
  readonly stop: () => Promise<void>;

  constructor() {
    this.child = fork(workerPath, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (message: WorkerMessage) => {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      if (message.type === 'warm') return waiter.onWarm();
      this.pending.delete(message.id);
      if (message.type === 'result') waiter.resolve(message.result);
      else waiter.reject(new Error(`load worker: ${message.message}`));
    });
    this.child.on('exit', (code, signal) => {
      for (const waiter of this.pending.values()) {
        waiter.reject(new Error(`load worker exited (${signal ?? code})`));
      }
      this.pending.clear();
    });
    const child = this.child;
    this.stop = onCleanup('load worker', async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      if (child.connected) child.send({ type: 'exit' } satisfies ParentMessage);
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    });
  }

  /** Runs `request`; `onWarm` is called when the warm-up ends and measuring starts. */
  run(request: LoadRequest, onWarm: () => void = () => {}): Promise<LoadResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onWarm });
      this.child.send({ type: 'run', id, request } satisfies ParentMessage);
    });
  }
}

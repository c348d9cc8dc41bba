/** Parent side of the load worker: forks it once, sends runs over IPC, awaits figures. */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './cleanup.ts';
import type { LoadRequest, LoadResult, ParentMessage, WorkerMessage } from './types.ts';

export interface WindowHooks {
  /** The warm-up is over: measuring starts now. */
  onWarm?(): void;
  /** The measured window is over (requests still in flight are not counted). */
  onEnd?(): void;
}

const workerPath = fileURLToPath(new URL('./load-worker.ts', import.meta.url));

export class LoadGenerator {
  private child: ChildProcess;
  private nextId = 1;
  private pending = new Map<
    number,
    { resolve(r: LoadResult): void; reject(e: Error): void; hooks: WindowHooks }
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
      if (message.type === 'warm') return waiter.hooks.onWarm?.();
      if (message.type === 'end') return waiter.hooks.onEnd?.();
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

  /** Lets the `untilFinished` runs under way end (now, or once their `durationS` is over). */
  finish(): void {
    if (!this.child.connected) return;
    for (const id of this.pending.keys()) {
      this.child.send({ type: 'finish', id } satisfies ParentMessage);
    }
  }

  /** Runs `request`; `hooks` hear when the measured window begins and ends. */
  run(request: LoadRequest, hooks: WindowHooks = {}): Promise<LoadResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, hooks });
      this.child.send({ type: 'run', id, request } satisfies ParentMessage);
    });
  }
}

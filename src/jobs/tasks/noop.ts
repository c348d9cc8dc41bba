/** A task that does nothing but succeed: used to measure the queue itself (bench/jobs.ts). */
import { z } from 'zod';
import { defineTask } from '../task.ts';

export default defineTask({
  kind: 'noop',
  payload: z.object({ sleepMs: z.number().int().min(0).max(60_000).optional() }),
  untracked: true,
  async run(p) {
    if (p.sleepMs) await new Promise((r) => setTimeout(r, p.sleepMs));
    return { ok: true };
  },
});

/** `postline_ready`: what GET /ready would answer, for alerting from the scrape alone. */
import type pg from 'pg';
import client from 'prom-client';
import { migrationStatus } from '../db/migrations.ts';

export function registerReadyMetric(registry: client.Registry, pool: pg.Pool): void {
  new client.Gauge({
    name: 'postline_ready',
    help: '1 when GET /ready answers 200 (database reachable, every migration applied), else 0',
    registers: [registry],
    async collect() {
      try {
        this.set((await migrationStatus(pool)).applied ? 1 : 0);
      } catch {
        this.set(0);
      }
    },
  });
}

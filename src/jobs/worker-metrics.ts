/**
 * WORKER_METRICS_PORT: `GET /metrics` for an `npm run worker` process (Prometheus text):
 * its job attempts and durations (jobs/metrics.ts) and the Node process series. The queue
 * itself is reported by the API's /metrics.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import { registerJobAttemptMetrics } from './metrics.ts';

export interface WorkerMetricsServer {
  port: number;
  close(): Promise<void>;
}

export async function serveWorkerMetrics(port: number, host: string): Promise<WorkerMetricsServer> {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  registerJobAttemptMetrics(registry);
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A real HTTP server in front of a test app, through Postline's own node:http front (src/http-server.ts). */
import type { AddressInfo } from 'node:net';
import { afterAll } from 'vitest';
import { createHttpServer, nodeHandler } from '../src/http-server.ts';
import type { TestApp } from './harness.ts';

export interface Listening {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  port: number;
  close(): Promise<void>;
}

export async function listen(t: TestApp): Promise<Listening> {
  const server = createHttpServer(nodeHandler(t.app));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  afterAll(close);
  return { origin: `http://127.0.0.1:${port}`, port, close };
}

// Starts the example host on a port and returns its URL and a way to stop it.
import type { Server } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { createApp } from './app.js';
import { type CareslotEnv, type CareslotSetup, createCareslot, type SetupOverrides } from './careslot.js';

export interface RunningExample {
  url: string;
  careslot: CareslotSetup;
  close(): Promise<void>;
}

/** Asks the OS for a free port, so Checkout return URLs can name it before the app listens. */
async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export async function startExample(
  options: { port?: number; host?: string; env?: CareslotEnv; overrides?: SetupOverrides } = {},
): Promise<RunningExample> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (await freePort(host));
  const url = `http://${host}:${port}`;
  const careslot = await createCareslot({ PUBLIC_URL: url, ...options.env }, options.overrides);
  const app = createApp({ careslot, selfUrl: () => url });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host, () => resolve(s));
    s.once('error', reject);
  });
  return {
    url,
    careslot,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await careslot.close();
    },
  };
}

// An HTTP proxy in front of a fake provider that can answer 500, hang past the client's timeout,
// or forward the request and drop the answer (the provider acted, the caller never heard).
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ProxyMode = 'forward' | 'error500' | 'hang' | 'dropResponse';

export class FlakyProxy {
  /** What the next matching requests get; others are forwarded. */
  mode: ProxyMode = 'forward';
  /** Only requests whose path matches are disturbed. */
  match: RegExp = /.*/;
  /** How many requests were disturbed. */
  disturbed = 0;

  private constructor(
    private readonly server: Server,
    private readonly upstreamPort: number,
  ) {}

  static async start(upstreamPort: number): Promise<FlakyProxy> {
    const server = createServer();
    const proxy = new FlakyProxy(server, upstreamPort);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const disturb = proxy.mode !== 'forward' && proxy.match.test(req.url ?? '');
        if (disturb) proxy.disturbed++;
        if (disturb && proxy.mode === 'error500') {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { type: 'api_error', message: 'simulated outage' } }));
          return;
        }
        if (disturb && proxy.mode === 'hang') return; // the client's timeout fires
        const upstream = request(
          { host: '127.0.0.1', port: proxy.upstreamPort, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            const body: Buffer[] = [];
            answer.on('data', (c: Buffer) => body.push(c));
            answer.on('end', () => {
              if (disturb && proxy.mode === 'dropResponse') {
                res.socket?.destroy();
                return;
              }
              res.writeHead(answer.statusCode ?? 502, answer.headers);
              res.end(Buffer.concat(body));
            });
          },
        );
        upstream.on('error', () => res.socket?.destroy());
        upstream.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// 'careslot/express': the webhook handler as an Express route handler (express is a type-only import).
import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';
import { createWebhookHandler, type WebhookHandler, type WebhookHandlerOptions } from './webhook-handler.js';

export type ExpressWebhookOptions = WebhookHandlerOptions;

type RawBody = { kind: 'body'; body: Buffer } | { kind: 'too_large' } | { kind: 'consumed' };

/** Reads the body when no parser ran; the handler itself refuses anything that is not raw. */
function readRawBody(req: IncomingMessage, maxBytes: number): Promise<RawBody> {
  if (req.readableEnded || req.destroyed) return Promise.resolve({ kind: 'consumed' });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData);
        req.resume();
        resolve({ kind: 'too_large' });
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve({ kind: 'body', body: Buffer.concat(chunks) }));
    req.once('error', reject);
  });
}

/**
 * Mounts careslot's webhook endpoint in Express. Give this one route the raw body, before
 * (or instead of) any `express.json()`:
 *
 * ```ts
 * app.post('/webhooks/stripe', express.raw({ type: 'application/json' }), expressWebhook({ engine, gateway }));
 * app.use(express.json()); // the rest of the app
 * ```
 *
 * Without a body parser the handler reads the raw stream itself; a body already parsed into an
 * object is answered with 400 and a message saying how to mount the route.
 */
export function expressWebhook(options: ExpressWebhookOptions | WebhookHandler): RequestHandler {
  const handler = typeof options === 'function' ? options : createWebhookHandler(options);
  const maxBodyBytes = (typeof options === 'function' ? undefined : options.maxBodyBytes) ?? 1_048_576;
  return async (req, res, next) => {
    try {
      let rawBody: unknown = req.body;
      if (rawBody === undefined) {
        const read = await readRawBody(req, maxBodyBytes);
        if (read.kind === 'too_large') {
          res.set('Connection', 'close');
          res
            .status(413)
            .json({ error: { code: 'INVALID_INPUT', message: `Webhook body exceeds ${maxBodyBytes} bytes` } });
          return;
        }
        rawBody = read.kind === 'body' ? read.body : undefined;
      }
      const result = await handler({ rawBody: rawBody as string | Uint8Array, headers: req.headers });
      res.status(result.status).json(result.body);
    } catch (error) {
      next(error);
    }
  };
}

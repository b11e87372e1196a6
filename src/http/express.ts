// 'careslot/express': the webhook handler as an Express route handler (express is a type-only import).
import type { RequestHandler } from 'express';
import { serveNode, toWebhookHandler } from './node-webhook.js';
import type { WebhookHandler, WebhookHandlerOptions } from './webhook-handler.js';

export type ExpressWebhookOptions = WebhookHandlerOptions;

/**
 * Mounts careslot's webhook endpoint in Express. Give this one route the raw body, before
 * (or instead of) any `express.json()`:
 *
 * ```ts
 * app.post('/webhooks/stripe', express.raw({ type: 'application/json' }), expressWebhook({ engine, payments }));
 * app.use(express.json()); // the rest of the app
 * ```
 *
 * Without a body parser the handler reads the raw stream itself; a body already parsed into an
 * object is answered with 400 and a message saying how to mount the route. A handler from
 * `createWebhookHandler` may be passed instead of options; its `maxBodyBytes` applies.
 */
export function expressWebhook(options: ExpressWebhookOptions | WebhookHandler): RequestHandler {
  const handler = toWebhookHandler(options, 'expressWebhook');
  return (req, res, next) => {
    serveNode(handler, req, res).catch(next);
  };
}

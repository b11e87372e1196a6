// The webhook handler for Node servers: a body in hand goes through the status+body form, a stream through `handler.fetch`; the answer is written back.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isBookingError } from '../domain/errors.js';
import { inHandInput, type NodeRequest, requestFromNode } from './node-request.js';
import {
  createWebhookHandler,
  errorResponse,
  type WebhookHandler,
  type WebhookHandlerOptions,
  type WebhookResponse,
} from './webhook-handler.js';

/** A prebuilt handler is used as is (with its own `maxBodyBytes`); options build one. */
export function toWebhookHandler(options: WebhookHandlerOptions | WebhookHandler, caller: string): WebhookHandler {
  if (typeof options !== 'function') return createWebhookHandler(options);
  if (typeof options.fetch !== 'function') {
    throw new TypeError(`${caller}: pass the options of createWebhookHandler, or the handler it returned`);
  }
  return options;
}

async function writeResponse(res: ServerResponse, response: Response): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer());
  res.statusCode = response.status;
  response.headers.forEach((value, name) => {
    res.setHeader(name, value);
  });
  // The rest of an oversized body was never read: close rather than parse it as the next request.
  if (response.status === 413) res.setHeader('Connection', 'close');
  res.end(body);
}

/** Writes what `writeResponse(res, toResponse(answer))` would write, without building the Response. */
function writeAnswer(res: ServerResponse, answer: WebhookResponse): void {
  res.statusCode = answer.status;
  res.setHeader('content-type', 'application/json');
  if (answer.status === 413) res.setHeader('Connection', 'close');
  res.end(JSON.stringify(answer.body));
}

/** Answers one Node request; rejects only for a failure no response could describe. */
export async function serveNode(handler: WebhookHandler, req: NodeRequest, res: ServerResponse): Promise<void> {
  // A body parser (express.raw) read it already: the bytes go in as they are.
  const input = inHandInput(req);
  if (input !== null) {
    writeAnswer(res, await handler(input));
    return;
  }
  let response: Response;
  try {
    response = await handler.fetch(requestFromNode(req));
  } catch (error) {
    if (!isBookingError(error)) throw error;
    response = errorResponse(error.code, error.message);
  }
  await writeResponse(res, response);
}

/**
 * The webhook endpoint as a bare `node:http` listener:
 *
 * ```ts
 * http.createServer(nodeWebhook({ engine, payments })).listen(3000);
 * ```
 *
 * Reads the raw stream itself, with the handler's size cap. Same answers as `handler.fetch`.
 */
export function nodeWebhook(
  options: WebhookHandlerOptions | WebhookHandler,
): (req: IncomingMessage, res: ServerResponse) => void {
  const handler = toWebhookHandler(options, 'nodeWebhook');
  return (req, res) => {
    serveNode(handler, req, res).catch((error: unknown) => {
      console.error('careslot: webhook failed', error);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      writeResponse(res, errorResponse('INTERNAL', 'Webhook could not be processed; the provider will retry')).catch(
        () => res.destroy(),
      );
    });
  };
}

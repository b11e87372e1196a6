// Framework-agnostic webhook handling: raw body + headers in, status + JSON body out.
import { isBookingError } from '../domain/errors.js';
import type { PaymentEventResult } from '../engine/payments.js';
import type { PaymentEvent, PaymentGateway } from '../ports/payment-gateway.js';

export interface WebhookHandlerOptions {
  /** Anything with `handlePaymentEvent`: normally the BookingEngine. */
  engine: { handlePaymentEvent(event: PaymentEvent): Promise<PaymentEventResult> };
  /** The gateway that verifies and normalizes the provider's webhooks. */
  gateway: Pick<PaymentGateway, 'parseWebhook'>;
  /**
   * Bodies larger than this are refused with 413 before any parsing.
   * @defaultValue 1_048_576 (1 MiB; Stripe events are far smaller)
   */
  maxBodyBytes?: number;
  /**
   * Called with errors that make the handler answer 500 (so the provider retries).
   * @defaultValue writes to `console.error`
   */
  onError?: (error: unknown) => void;
}

export interface WebhookInput {
  /** The exact bytes received. A parsed object is refused with a message saying so. */
  rawBody: string | Uint8Array;
  headers: Record<string, string | string[] | undefined>;
}

export interface WebhookResponse {
  status: number;
  body: Record<string, unknown>;
}

export interface WebhookHandler {
  (input: WebhookInput): Promise<WebhookResponse>;
  /** The same handler for fetch-standard runtimes (Next.js route handlers, Hono, workers). */
  fetch(request: Request): Promise<Response>;
}

const RAW_BODY_HINT =
  'Pass the raw request body (string or Buffer), not parsed JSON: in Express mount this route with express.raw({ type: "application/json" }) before any express.json()';

function errorBody(code: string, message: string): Record<string, unknown> {
  return { error: { code, message } };
}

/**
 * Builds the webhook endpoint: 200 for processed, duplicate and ignored events; 400 for bad
 * signatures and bodies (nothing changes); 413 for oversized bodies; 500 when a verified event
 * could not be applied (e.g. the database was unreachable), so the provider retries it.
 */
export function createWebhookHandler(options: WebhookHandlerOptions): WebhookHandler {
  if (!options || typeof options.engine?.handlePaymentEvent !== 'function') {
    throw new TypeError('createWebhookHandler: options.engine must be a BookingEngine');
  }
  if (typeof options.gateway?.parseWebhook !== 'function') {
    throw new TypeError('createWebhookHandler: options.gateway must be a PaymentGateway with parseWebhook');
  }
  const maxBodyBytes = options.maxBodyBytes ?? 1_048_576;
  const onError = options.onError ?? ((error: unknown) => console.error('careslot: webhook failed', error));

  const handle = async (input: WebhookInput): Promise<WebhookResponse> => {
    const rawBody = input?.rawBody as unknown;
    if (typeof rawBody !== 'string' && !(rawBody instanceof Uint8Array)) {
      return { status: 400, body: errorBody('INVALID_INPUT', RAW_BODY_HINT) };
    }
    const size = typeof rawBody === 'string' ? Buffer.byteLength(rawBody) : rawBody.byteLength;
    if (size > maxBodyBytes) {
      return { status: 413, body: errorBody('INVALID_INPUT', `Webhook body exceeds ${maxBodyBytes} bytes`) };
    }
    let parsed: Awaited<ReturnType<WebhookHandlerOptions['gateway']['parseWebhook']>>;
    try {
      parsed = await options.gateway.parseWebhook({ rawBody, headers: input.headers ?? {} });
    } catch (error) {
      // Only the request itself can be wrong here: bad signature, parsed or non-JSON body.
      if (isBookingError(error) && error.status < 500) {
        return { status: error.status, body: errorBody(error.code, error.message) };
      }
      onError(error);
      return { status: 500, body: errorBody('INTERNAL', 'Webhook could not be processed; the provider will retry') };
    }
    if (parsed.kind === 'ignored')
      return { status: 200, body: { received: true, outcome: 'ignored', type: parsed.type } };
    try {
      const result = await options.engine.handlePaymentEvent(parsed.event);
      return { status: 200, body: { received: true, outcome: result.outcome } };
    } catch (error) {
      // A verified event the engine could not apply: let the provider retry, and tell the host.
      onError(error);
      return { status: 500, body: errorBody('INTERNAL', 'Webhook could not be processed; the provider will retry') };
    }
  };

  const handler = handle as WebhookHandler;
  handler.fetch = async (request: Request): Promise<Response> => {
    const tooLarge = () =>
      Response.json(errorBody('INVALID_INPUT', `Webhook body exceeds ${maxBodyBytes} bytes`), { status: 413 });
    const declared = Number(request.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > maxBodyBytes) return tooLarge();
    if (request.bodyUsed) {
      return Response.json(errorBody('INVALID_INPUT', `The request body was already read. ${RAW_BODY_HINT}`), {
        status: 400,
      });
    }
    // Read with a byte count, so a chunked body without Content-Length cannot exhaust memory.
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (request.body) {
      const reader = request.body.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > maxBodyBytes) {
          await reader.cancel();
          return tooLarge();
        }
        chunks.push(value);
      }
    }
    const rawBody = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      rawBody.set(chunk, offset);
      offset += chunk.byteLength;
    }
    const headers: Record<string, string> = {};
    request.headers.forEach((value, key) => {
      headers[key] = value;
    });
    const result = await handle({ rawBody, headers });
    return Response.json(result.body, { status: result.status });
  };
  return handler;
}

// Framework-agnostic webhook handling: one fetch-standard core, and the raw body + headers form over it.
import { type ErrorCode, ErrorCodes, isBookingError } from '../domain/errors.js';
import type { HandlePaymentEventOptions, PaymentEventResult } from '../engine/index.js';
import type { PaymentEvent, PaymentGateway, WebhookParseResult } from '../ports/payment-gateway.js';
import { RAW_BODY_HINT } from '../ports/payment-gateway.js';
import { type HeaderRecord, headerRecord, rawParts } from './node-request.js';

/** The part of a gateway the handler uses: verifying and normalizing webhooks. */
export type WebhookVerifier = Pick<PaymentGateway, 'parseWebhook'>;

/** What the handler needs from the engine; the BookingEngine is one. */
export interface WebhookEngine {
  handlePaymentEvent(event: PaymentEvent, options?: HandlePaymentEventOptions): Promise<PaymentEventResult>;
  /** The engine's own gateway, used when the options name none. */
  readonly payments?: WebhookVerifier;
}

export interface WebhookHandlerOptions {
  /** Anything with `handlePaymentEvent`: normally the BookingEngine. */
  engine: WebhookEngine;
  /**
   * The gateway that verifies and normalizes the provider's webhooks: the same `payments` the
   * BookingEngine was given.
   * @defaultValue `engine.payments`
   */
  payments?: WebhookVerifier;
  /**
   * The old name of `payments`; still honoured in this release. Giving both, set to different
   * gateways, is a TypeError.
   * @deprecated Use `payments`, the BookingEngine's name for the same gateway.
   */
  gateway?: WebhookVerifier;
  /**
   * Bodies larger than this are refused with 413 PAYLOAD_TOO_LARGE before any parsing; a body
   * that declares a larger Content-Length is refused before it is read.
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
  headers: HeaderRecord;
}

export interface WebhookResponse {
  status: number;
  body: Record<string, unknown>;
}

export interface WebhookHandler {
  /** The status+body form, for hosts that already hold the raw body. Same answers as `fetch`. */
  (input: WebhookInput): Promise<WebhookResponse>;
  /** The handler itself, for fetch-standard runtimes (Next.js route handlers, Hono, workers). */
  fetch(request: Request): Promise<Response>;
  /** The resolved size cap in bytes; give it to a body parser too: `express.raw({ limit })`. */
  readonly maxBodyBytes: number;
}

const DEFAULT_MAX_BODY_BYTES = 1_048_576;
const RETRY_MESSAGE = 'Webhook could not be processed; the provider will retry';

/**
 * Every refusal the webhook endpoint sends goes through here, so its status is the one
 * `ErrorCodes` gives its code.
 */
export function refusal(code: ErrorCode, message: string): WebhookResponse {
  return { status: ErrorCodes[code], body: { error: { code, message } } };
}

/** An answer as a fetch-standard Response (a JSON body). */
export function toResponse(answer: WebhookResponse): Response {
  return Response.json(answer.body, { status: answer.status });
}

/** A refusal as a fetch-standard Response. */
export function errorResponse(code: ErrorCode, message: string): Response {
  return toResponse(refusal(code, message));
}

function resolveVerifier(options: WebhookHandlerOptions): WebhookVerifier {
  const { payments, gateway } = options;
  if (payments !== undefined && gateway !== undefined && payments !== gateway) {
    throw new TypeError(
      'createWebhookHandler: options.payments and options.gateway name different gateways; pass payments only (gateway is its deprecated name)',
    );
  }
  const verifier = payments ?? gateway ?? options.engine.payments;
  if (typeof verifier?.parseWebhook !== 'function') {
    throw new TypeError(
      'createWebhookHandler: no payment gateway to verify webhooks with; pass the one the BookingEngine uses: createWebhookHandler({ engine, payments })',
    );
  }
  return verifier;
}

/** Reads at most `max` bytes; null once the body passes it (a chunked body has no length to check first). */
async function readCapped(body: ReadableStream<Uint8Array> | null, max: number): Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (body) {
    const reader = body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel();
        return null;
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * Builds the webhook endpoint. The status contract:
 * - 2xx for every verified event: processed, duplicate, ignored (a type careslot does not act
 *   on), and verified events that can never apply (reported on `payment.ignored` with a reason),
 *   so the provider stops retrying what a retry cannot fix;
 * - 4xx only for requests that are the caller's fault: bad or missing signature, a parsed or
 *   unreadable body (400), a body over `maxBodyBytes` (413 PAYLOAD_TOO_LARGE); nothing changes;
 * - 5xx (500 INTERNAL) only when a retry can succeed: the store or the provider was down.
 * Both forms share one code path once the body is read: `handler.fetch` reads the Request's
 * stream within the cap; the status+body form (and `expressWebhook`/`nodeWebhook` with a body
 * already in hand) use the bytes they were given as they are, without a Request or a Response.
 */
export function createWebhookHandler(options: WebhookHandlerOptions): WebhookHandler {
  if (!options || typeof options.engine?.handlePaymentEvent !== 'function') {
    throw new TypeError('createWebhookHandler: options.engine must be a BookingEngine');
  }
  const verifier = resolveVerifier(options);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes <= 0) {
    throw new TypeError(
      `createWebhookHandler: options.maxBodyBytes must be a whole number of bytes above 0 (got ${String(maxBodyBytes)}); leave it out for 1 MiB`,
    );
  }
  const onError = options.onError ?? ((error: unknown) => console.error('careslot: webhook failed', error));
  const tooLarge = () => refusal('PAYLOAD_TOO_LARGE', `Webhook body exceeds ${maxBodyBytes} bytes`);
  const retryLater = (error: unknown) => {
    onError(error);
    return refusal('INTERNAL', RETRY_MESSAGE);
  };

  /** The one code path of both forms, once the body's bytes are read and within the cap. */
  const answer = async (rawBody: Uint8Array, headers: Record<string, string>): Promise<WebhookResponse> => {
    let parsed: WebhookParseResult;
    try {
      parsed = await verifier.parseWebhook({ rawBody, headers });
    } catch (error) {
      // Only the request itself can be wrong here: bad signature, parsed or non-JSON body.
      if (isBookingError(error) && ErrorCodes[error.code] < 500) return refusal(error.code, error.message);
      return retryLater(error);
    }
    if (parsed.kind === 'ignored') {
      return {
        status: 200,
        body: { received: true, outcome: 'ignored', ...(parsed.type === undefined ? {} : { type: parsed.type }) },
      };
    }
    try {
      const result = await options.engine.handlePaymentEvent(parsed.event, { verified: true });
      return {
        status: 200,
        body: {
          received: true,
          outcome: result.outcome,
          ...(result.reason === undefined ? {} : { reason: result.reason }),
        },
      };
    } catch (error) {
      // A verified event the engine could not apply: let the provider retry, and tell the host.
      return retryLater(error);
    }
  };

  const fetchHandler = async (request: Request): Promise<Response> => {
    if (Number(request.headers.get('content-length')) > maxBodyBytes) {
      await request.body?.cancel().catch(() => {});
      return toResponse(tooLarge());
    }
    if (request.bodyUsed) return errorResponse('INVALID_INPUT', `The request body was already read. ${RAW_BODY_HINT}`);
    let rawBody: Uint8Array | null;
    try {
      rawBody = await readCapped(request.body, maxBodyBytes);
    } catch {
      // The client went away mid-body (or the stream broke): nothing was verified or changed.
      return errorResponse('INVALID_INPUT', 'The webhook body could not be read to its end');
    }
    if (rawBody === null) return toResponse(tooLarge());
    return toResponse(await answer(rawBody, headerRecord(request.headers)));
  };

  // The bytes are in hand: no Request, stream or Response is built (about 30 µs per event).
  const handle = async (input: WebhookInput): Promise<WebhookResponse> => {
    let parts: ReturnType<typeof rawParts>;
    try {
      parts = rawParts(input);
    } catch (error) {
      if (!isBookingError(error)) throw error;
      return refusal(error.code, error.message);
    }
    if (parts.rawBody.byteLength > maxBodyBytes) return tooLarge();
    return answer(parts.rawBody, parts.headers);
  };
  const handler = handle as WebhookHandler;
  Object.defineProperty(handler, 'fetch', { value: fetchHandler, enumerable: true });
  Object.defineProperty(handler, 'maxBodyBytes', { value: maxBodyBytes, enumerable: true });
  return handler;
}

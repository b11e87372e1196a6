// Signs the webhooks careslot sends and verifies them on the receiving side: pure functions of (raw body, headers, secret, now).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { BookingError } from '../domain/errors.js';
import type { OutboxEventType } from '../engine/outbox-types.js';
import { RAW_BODY_HINT } from '../ports/payment-gateway.js';

/** `t=<unix seconds>,v1=<hex HMAC-SHA256>`; more than one `v1=` while the sender rotates secrets. */
export const CARESLOT_SIGNATURE_HEADER = 'careslot-signature';
/** The event's id (the same as the body's `id`): dedupe on it, deliveries are at least once. */
export const CARESLOT_EVENT_ID_HEADER = 'careslot-event-id';
/** The unix seconds the delivery was signed at (the same as the signature's `t=`). */
export const CARESLOT_TIMESTAMP_HEADER = 'careslot-timestamp';
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

/** The JSON body of a careslot webhook, as `verifyCareslotWebhook` returns it. */
export interface CareslotWebhookEvent {
  /** Stable across retries of the same event: dedupe on it. */
  id: string;
  /** A newer sender may send types this version does not list yet. */
  type: OutboxEventType | (string & {});
  createdAt: Date;
  bookingId: string | null;
  scheduleId: string | null;
  /** The payload's schema version. */
  version: number;
  /** The event's data as JSON: records with their Dates as ISO strings. */
  payload: Record<string, unknown>;
}

export interface SignCareslotWebhookInput {
  /** The exact body string that is sent. */
  rawBody: string;
  secret: string;
  /** Unix seconds. */
  timestamp: number;
}

export interface VerifyCareslotWebhookInput {
  /** The exact bytes received. A parsed object is refused with a message saying so. */
  rawBody: string | Uint8Array;
  /** Looked up case-insensitively. */
  headers: Record<string, string | string[] | undefined>;
  /** The endpoint's secret; several while rotating: any one of them may have signed. */
  secret: string | readonly string[];
  /** How far the signature's timestamp may be from `now`, either way. @defaultValue 300 */
  toleranceSeconds?: number;
  /** Milliseconds since the epoch. @defaultValue `Date.now` */
  now?: () => number;
}

const SIGNATURE_HEX = /^[0-9a-f]{64}$/i;

function hmac(secret: string, timestamp: number, body: string | Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

/** The `careslot-signature` header value for `rawBody` signed at `timestamp`. */
export function signCareslotWebhook(input: SignCareslotWebhookInput): string {
  const { rawBody, secret, timestamp } = input;
  if (typeof secret !== 'string' || secret === '') {
    throw new TypeError('signCareslotWebhook: secret must be a non-empty string (the endpoint secret)');
  }
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new TypeError(
      `signCareslotWebhook: timestamp must be whole unix seconds (got ${String(timestamp)}); use Math.floor(Date.now() / 1000)`,
    );
  }
  return `t=${timestamp},v1=${hmac(secret, timestamp, rawBody).toString('hex')}`;
}

function headerValue(headers: VerifyCareslotWebhookInput['headers'], name: string): string | undefined {
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() !== name || value === undefined) continue;
    return Array.isArray(value) ? value.join(',') : value;
  }
  return undefined;
}

function malformed(detail: string): BookingError {
  return new BookingError('INVALID_SIGNATURE', `Malformed ${CARESLOT_SIGNATURE_HEADER} header: ${detail}`);
}

function parseSignatureHeader(value: string | undefined): { timestamp: number; signatures: Buffer[] } {
  if (value === undefined || value.trim() === '') {
    throw new BookingError('INVALID_SIGNATURE', `Missing ${CARESLOT_SIGNATURE_HEADER} header`);
  }
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of value.split(',')) {
    const at = part.indexOf('=');
    if (at < 0) continue;
    const key = part.slice(0, at).trim();
    const item = part.slice(at + 1).trim();
    if (key === 't') {
      if (!/^\d+$/.test(item)) throw malformed('t= must be unix seconds');
      timestamp = Number(item);
    } else if (key === 'v1' && SIGNATURE_HEX.test(item)) {
      signatures.push(Buffer.from(item, 'hex'));
    }
    // Other schemes (v0, a future v2) are skipped, as stripe-node does.
  }
  if (timestamp === undefined) throw malformed('no t= timestamp');
  if (signatures.length === 0) throw malformed('no v1= signature');
  return { timestamp, signatures };
}

function secretsOf(secret: VerifyCareslotWebhookInput['secret']): readonly string[] {
  const secrets = typeof secret === 'string' ? [secret] : secret;
  if (!Array.isArray(secrets) || secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s === '')) {
    throw new TypeError(
      'verifyCareslotWebhook: secret must be the endpoint secret, or a non-empty array of them while rotating',
    );
  }
  return secrets;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseEvent(body: string): CareslotWebhookEvent {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw new BookingError('INVALID_INPUT', 'Webhook body is not JSON', { cause: error });
  }
  const createdAt = isRecord(json) && typeof json.createdAt === 'string' ? new Date(json.createdAt) : null;
  const nullableString = (value: unknown) => value === null || typeof value === 'string';
  if (
    !isRecord(json) ||
    typeof json.id !== 'string' ||
    typeof json.type !== 'string' ||
    createdAt === null ||
    Number.isNaN(createdAt.getTime()) ||
    !nullableString(json.bookingId) ||
    !nullableString(json.scheduleId) ||
    typeof json.version !== 'number' ||
    !isRecord(json.payload)
  ) {
    throw new BookingError('INVALID_INPUT', 'Webhook body is not a careslot event');
  }
  return {
    id: json.id,
    type: json.type,
    createdAt,
    bookingId: json.bookingId as string | null,
    scheduleId: json.scheduleId as string | null,
    version: json.version,
    payload: json.payload,
  };
}

/**
 * Verifies a delivery from `createWebhookSender` and returns its event. Throws
 * `BookingError('INVALID_SIGNATURE')` for a missing or malformed header, a signature no secret
 * produced, or a timestamp more than `toleranceSeconds` from `now` (a replayed capture);
 * `BookingError('INVALID_INPUT')` for a parsed body (see `RAW_BODY_HINT`) or a body that is
 * not a careslot event. Checks the signature before the clock, so an unsigned request learns nothing.
 */
export function verifyCareslotWebhook(input: VerifyCareslotWebhookInput): CareslotWebhookEvent {
  const { rawBody, headers, toleranceSeconds = DEFAULT_WEBHOOK_TOLERANCE_SECONDS, now = Date.now } = input;
  const secrets = secretsOf(input.secret);
  if (typeof toleranceSeconds !== 'number' || !(toleranceSeconds > 0)) {
    throw new TypeError(
      `verifyCareslotWebhook: toleranceSeconds must be a number of seconds above 0 (got ${String(toleranceSeconds)}); leave it out for 300`,
    );
  }
  if (typeof rawBody !== 'string' && !(rawBody instanceof Uint8Array)) {
    throw new BookingError('INVALID_INPUT', RAW_BODY_HINT);
  }
  const { timestamp, signatures } = parseSignatureHeader(headerValue(headers, CARESLOT_SIGNATURE_HEADER));
  const matches = secrets.some((secret) => {
    const expected = hmac(secret, timestamp, rawBody);
    return signatures.some((given) => timingSafeEqual(expected, given));
  });
  if (!matches) {
    throw new BookingError(
      'INVALID_SIGNATURE',
      'Webhook signature does not match the body: check the endpoint secret, and verify the raw body before any JSON parser touches it',
    );
  }
  const skew = now() / 1000 - timestamp;
  if (Math.abs(skew) > toleranceSeconds) {
    throw new BookingError(
      'INVALID_SIGNATURE',
      `Webhook timestamp is ${Math.round(Math.abs(skew))} s ${skew > 0 ? 'old' : 'in the future'}, outside the ${toleranceSeconds} s tolerance`,
    );
  }
  const body = typeof rawBody === 'string' ? rawBody : Buffer.from(rawBody).toString('utf8');
  return parseEvent(body);
}

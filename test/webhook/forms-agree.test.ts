// The status+body form reads its input without a fetch Request: it must hand the gateway what the fetch form hands it, and answer the same.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type HeaderRecord, requestFromRaw } from '../../src/http/node-request.js';
import { errorResponse } from '../../src/http/webhook-handler.js';
import {
  BookingError,
  createWebhookHandler,
  type PaymentEvent,
  type WebhookParseResult,
  type WebhookResponse,
} from '../../src/index.js';

interface Seen {
  rawBody: number[];
  headers: Record<string, string>;
}

/**
 * A gateway and an engine that record what they were given; the body's first byte picks the
 * verdict, so every branch of the handler is reached: verified (applied, or the engine fails),
 * ignored, refused (bad signature) or failing (the provider is down).
 */
function rig(maxBodyBytes: number) {
  const seen: Seen[] = [];
  const handler = createWebhookHandler({
    maxBodyBytes,
    onError: () => {},
    payments: {
      parseWebhook: async ({ rawBody, headers }): Promise<WebhookParseResult> => {
        await Promise.resolve(); // read after the caller went on: what it does to its buffer then must not show
        const bytes = typeof rawBody === 'string' ? new TextEncoder().encode(rawBody) : rawBody;
        seen.push({ rawBody: [...bytes], headers: { ...(headers as Record<string, string>) } });
        switch ((bytes[0] ?? 0) % 5) {
          case 0:
            throw new BookingError('INVALID_SIGNATURE', 'bad signature');
          case 1:
            throw new Error('provider down');
          case 2:
            return { kind: 'ignored', id: 'evt_ignored', type: 'customer.created' };
          default:
            return { kind: 'event', event: { id: `evt_${bytes.length}`, type: 'payment.succeeded' } as PaymentEvent };
        }
      },
    },
    engine: {
      handlePaymentEvent: async (event: PaymentEvent) => {
        if (event.id.endsWith('7')) throw new Error('store down');
        return event.id.endsWith('3') ? { outcome: 'ignored', reason: 'no_booking' } : { outcome: 'confirmed' };
      },
    } as never,
  });
  return { handler, seen };
}

/** The status+body form as it was before it skipped the Request: through `handler.fetch` and back. */
async function viaFetch(handler: ReturnType<typeof rig>['handler'], input: unknown): Promise<WebhookResponse> {
  let response: Response;
  try {
    response = await handler.fetch(requestFromRaw(input as never));
  } catch (error) {
    if (!(error instanceof BookingError)) throw error;
    response = errorResponse(error.code, error.message);
  }
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const headerName = fc.constantFrom(
  'Stripe-Signature',
  'stripe-signature',
  'X-Test-Signature',
  'Content-Type',
  'content-length',
  'Transfer-Encoding',
  ':authority',
  'x-a',
  'X-A',
  'bad name',
);
const headerValue = fc.oneof(
  fc.constantFrom('t=1,v1=00', '  padded\t', 'a\nb', '', 'application/json; charset=utf-8', '99999999'),
  fc.string({ maxLength: 12 }),
);
const headers: fc.Arbitrary<HeaderRecord> = fc.dictionary(
  headerName,
  fc.oneof(headerValue, fc.array(headerValue, { maxLength: 3 }), fc.constant(undefined)),
  { maxKeys: 5 },
);
const body = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), maxLength: 3 }),
  fc.uint8Array({ maxLength: 40 }),
  fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
  fc.constantFrom<unknown>({ parsed: true }, null, undefined, 42),
);

describe('the status+body form and the fetch form', () => {
  it('hand the gateway the same bytes and headers and give the same answer, for any body and headers', async () => {
    await fc.assert(
      fc.asyncProperty(body, headers, fc.constantFrom(8, 1_048_576), async (rawBody, headerRecord, max) => {
        const input = { rawBody, headers: headerRecord };
        const direct = rig(max);
        const fetched = rig(max);
        const answer = await direct.handler(input as never);
        expect(answer).toStrictEqual(await viaFetch(fetched.handler, input));
        expect(direct.seen).toStrictEqual(fetched.seen);
      }),
      { numRuns: 400 },
    );
  });

  it('reaches every answer: refused, retried, ignored, applied and too large', async () => {
    const { handler } = rig(8);
    const answers = await Promise.all(
      [0, 1, 2, 3, 4].map((first) => handler({ rawBody: new Uint8Array([first, 1]), headers: {} })),
    );
    expect(answers.map((a) => a.status)).toEqual([400, 500, 200, 200, 200]);
    expect(answers[2]?.body).toEqual({ received: true, outcome: 'ignored', type: 'customer.created' });
    expect((await handler({ rawBody: new Uint8Array(9), headers: {} })).status).toBe(413);
  });

  it('copies a byte body: changing the caller’s buffer afterwards does not change what was verified', async () => {
    const { handler, seen } = rig(64);
    const bytes = new Uint8Array([3, 1, 2]);
    const pending = handler({ rawBody: bytes, headers: {} });
    bytes[1] = 9;
    await pending;
    expect(seen[0]?.rawBody).toEqual([3, 1, 2]);
  });
});

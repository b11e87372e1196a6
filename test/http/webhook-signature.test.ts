// signCareslotWebhook / verifyCareslotWebhook: what a receiver accepts, and every way a delivery is refused.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BookingError } from '../../src/domain/errors.js';
import {
  CARESLOT_EVENT_ID_HEADER,
  CARESLOT_SIGNATURE_HEADER,
  CARESLOT_TIMESTAMP_HEADER,
  type CareslotWebhookEvent,
  signCareslotWebhook,
  verifyCareslotWebhook,
} from '../../src/http/webhook-signature.js';
import { RAW_BODY_HINT } from '../../src/ports/payment-gateway.js';

const SECRET = 'whsec_test_current';
const OLD_SECRET = 'whsec_test_previous';
const T = 1_780_000_000; // unix seconds
const atT =
  (offsetSeconds = 0) =>
  () =>
    (T + offsetSeconds) * 1000;

const event = {
  id: 'evt_1',
  type: 'booking.confirmed',
  createdAt: '2026-06-01T10:00:00.000Z',
  bookingId: 'bk_1',
  scheduleId: 'sch_1',
  version: 1,
  payload: { booking: { id: 'bk_1', status: 'confirmed', startsAt: '2026-06-02T09:00:00.000Z' } },
};
const rawBody = JSON.stringify(event);

function signed(body = rawBody, secret = SECRET, timestamp = T) {
  return {
    [CARESLOT_SIGNATURE_HEADER]: signCareslotWebhook({ rawBody: body, secret, timestamp }),
    [CARESLOT_EVENT_ID_HEADER]: event.id,
    [CARESLOT_TIMESTAMP_HEADER]: String(timestamp),
  };
}

function refusal(run: () => unknown): BookingError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(BookingError);
    return error as BookingError;
  }
  throw new Error('expected verifyCareslotWebhook to throw');
}

function hex(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

describe('signCareslotWebhook', () => {
  it('produces t=<seconds>,v1=<hex HMAC-SHA256 of "t.body">', () => {
    expect(signCareslotWebhook({ rawBody, secret: SECRET, timestamp: T })).toBe(`t=${T},v1=${hex(SECRET, T, rawBody)}`);
  });

  it('refuses an empty secret and a timestamp in milliseconds or fractions', () => {
    expect(() => signCareslotWebhook({ rawBody, secret: '', timestamp: T })).toThrow(TypeError);
    expect(() => signCareslotWebhook({ rawBody, secret: SECRET, timestamp: T + 0.5 })).toThrow(/whole unix seconds/);
  });
});

describe('verifyCareslotWebhook', () => {
  it('returns the event of a body it signed, with createdAt as a Date', () => {
    const verified: CareslotWebhookEvent = verifyCareslotWebhook({
      rawBody,
      headers: signed(),
      secret: SECRET,
      now: atT(),
    });
    expect(verified).toEqual({ ...event, createdAt: new Date(event.createdAt) });
  });

  it('accepts the body as a Buffer, exactly as received', () => {
    const verified = verifyCareslotWebhook({
      rawBody: Buffer.from(rawBody, 'utf8'),
      headers: signed(),
      secret: SECRET,
      now: atT(),
    });
    expect(verified.id).toBe('evt_1');
  });

  it('looks the header up case-insensitively', () => {
    const headers = { 'Careslot-Signature': signed()[CARESLOT_SIGNATURE_HEADER] };
    expect(verifyCareslotWebhook({ rawBody, headers, secret: SECRET, now: atT() }).type).toBe('booking.confirmed');
  });

  it('refuses a body changed after signing', () => {
    const tampered = rawBody.replace('"confirmed"', '"cancelled"');
    const error = refusal(() =>
      verifyCareslotWebhook({ rawBody: tampered, headers: signed(), secret: SECRET, now: atT() }),
    );
    expect(error.code).toBe('INVALID_SIGNATURE');
    expect(error.message).toMatch(/does not match/);
  });

  it('refuses a signature made with another secret', () => {
    const error = refusal(() =>
      verifyCareslotWebhook({ rawBody, headers: signed(rawBody, 'whsec_other'), secret: SECRET, now: atT() }),
    );
    expect(error.code).toBe('INVALID_SIGNATURE');
  });

  it('accepts a signature from any secret of a rotation list', () => {
    const byOld = verifyCareslotWebhook({
      rawBody,
      headers: signed(rawBody, OLD_SECRET),
      secret: [SECRET, OLD_SECRET],
      now: atT(),
    });
    expect(byOld.id).toBe('evt_1');
    const error = refusal(() =>
      verifyCareslotWebhook({
        rawBody,
        headers: signed(rawBody, 'whsec_other'),
        secret: [SECRET, OLD_SECRET],
        now: atT(),
      }),
    );
    expect(error.code).toBe('INVALID_SIGNATURE');
  });

  it('accepts a header with several v1= entries when one of them matches', () => {
    const header = `t=${T},v1=${hex('whsec_other', T, rawBody)},v1=${hex(SECRET, T, rawBody)}`;
    const verified = verifyCareslotWebhook({
      rawBody,
      headers: { [CARESLOT_SIGNATURE_HEADER]: header },
      secret: SECRET,
      now: atT(),
    });
    expect(verified.id).toBe('evt_1');
  });

  it('accepts a timestamp just inside the tolerance both ways, and refuses one past it either way', () => {
    const verify = (offset: number) => () =>
      verifyCareslotWebhook({ rawBody, headers: signed(), secret: SECRET, now: atT(offset), toleranceSeconds: 300 });
    expect(verify(300)().id).toBe('evt_1');
    expect(verify(-300)().id).toBe('evt_1');
    const stale = refusal(verify(301));
    expect(stale.code).toBe('INVALID_SIGNATURE');
    expect(stale.message).toMatch(/301 s old/);
    const future = refusal(verify(-301));
    expect(future.code).toBe('INVALID_SIGNATURE');
    expect(future.message).toMatch(/in the future/);
  });

  it('refuses a captured delivery replayed later, though its signature is genuine', () => {
    const capture = { rawBody, headers: signed(), secret: SECRET };
    expect(verifyCareslotWebhook({ ...capture, now: atT(5) }).id).toBe('evt_1');
    const error = refusal(() => verifyCareslotWebhook({ ...capture, now: atT(60 * 60) }));
    expect(error.code).toBe('INVALID_SIGNATURE');
  });

  it.each([
    ['a missing header', {}],
    ['an empty header', { [CARESLOT_SIGNATURE_HEADER]: '' }],
    ['no t=', { [CARESLOT_SIGNATURE_HEADER]: `v1=${hex(SECRET, T, rawBody)}` }],
    ['no v1=', { [CARESLOT_SIGNATURE_HEADER]: `t=${T}` }],
    ['a v1= that is not a hex digest', { [CARESLOT_SIGNATURE_HEADER]: `t=${T},v1=not-hex` }],
    ['a non-numeric t=', { [CARESLOT_SIGNATURE_HEADER]: `t=soon,v1=${hex(SECRET, T, rawBody)}` }],
    ['a Stripe-style header only', { 'stripe-signature': signed()[CARESLOT_SIGNATURE_HEADER] }],
  ])('refuses %s with INVALID_SIGNATURE', (_label, headers) => {
    const error = refusal(() => verifyCareslotWebhook({ rawBody, headers, secret: SECRET, now: atT() }));
    expect(error.code).toBe('INVALID_SIGNATURE');
    expect(error.status).toBe(400);
  });

  it('refuses a parsed JSON object with INVALID_INPUT and says to pass the raw body', () => {
    const error = refusal(() =>
      verifyCareslotWebhook({
        rawBody: event as unknown as string,
        headers: signed(),
        secret: SECRET,
        now: atT(),
      }),
    );
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toBe(RAW_BODY_HINT);
  });

  it('refuses a signed body that is not a careslot event with INVALID_INPUT', () => {
    const notJson = 'hello';
    expect(
      refusal(() => verifyCareslotWebhook({ rawBody: notJson, headers: signed(notJson), secret: SECRET, now: atT() }))
        .code,
    ).toBe('INVALID_INPUT');
    const noPayload = JSON.stringify({ ...event, payload: undefined });
    const error = refusal(() =>
      verifyCareslotWebhook({ rawBody: noPayload, headers: signed(noPayload), secret: SECRET, now: atT() }),
    );
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toMatch(/not a careslot event/);
  });

  it('refuses to run without a secret or with a non-positive tolerance', () => {
    expect(() => verifyCareslotWebhook({ rawBody, headers: signed(), secret: [], now: atT() })).toThrow(TypeError);
    expect(() => verifyCareslotWebhook({ rawBody, headers: signed(), secret: '', now: atT() })).toThrow(TypeError);
    expect(() =>
      verifyCareslotWebhook({ rawBody, headers: signed(), secret: SECRET, now: atT(), toleranceSeconds: 0 }),
    ).toThrow(/toleranceSeconds/);
  });
});

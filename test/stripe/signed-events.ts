// Builds Stripe events and signs them for real with stripe-node's test header helper.
import Stripe from 'stripe';

export const WEBHOOK_SECRET = 'whsec_careslot_test_secret';

let counter = 0;

/** A Stripe event envelope around `object`, as Stripe delivers it. */
export function stripeEvent(
  type: string,
  object: object,
  options: { id?: string; created?: Date } = {},
): Record<string, unknown> {
  counter++;
  return {
    id: options.id ?? `evt_test_${counter.toString().padStart(6, '0')}`,
    object: 'event',
    api_version: '2026-10-28.endive',
    created: Math.floor((options.created ?? new Date()).getTime() / 1000),
    type,
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    data: { object },
  };
}

/** The request Stripe would send: the exact JSON bytes and a `stripe-signature` header for them. */
export function signedRequest(
  event: object | string,
  options: { at: Date; secret?: string },
): { rawBody: string; headers: Record<string, string> } {
  const rawBody = typeof event === 'string' ? event : JSON.stringify(event, null, 2);
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload: rawBody,
    secret: options.secret ?? WEBHOOK_SECRET,
    timestamp: Math.floor(options.at.getTime() / 1000),
  });
  return {
    rawBody,
    headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': signature },
  };
}

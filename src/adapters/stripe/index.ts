// 'careslot/stripe': the Stripe Checkout payment gateway.

export { StripeCheckoutGateway, type StripeCheckoutGatewayOptions } from './stripe-checkout-gateway.js';
export type {
  StripeCheckoutSessionLike,
  StripeClient,
  StripeCustomerLike,
  StripeList,
  StripePaymentIntentLike,
  StripeRefundLike,
  StripeRequestOptions,
} from './stripe-client.js';
export { normalizeStripeEvent, STRIPE_METADATA, STRIPE_WEBHOOK_EVENTS } from './stripe-events.js';

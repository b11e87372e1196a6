// The slice of the host's Stripe client careslot uses, typed structurally so any stripe-node >= 20 fits.

/** Per-request options careslot passes (stripe-node's `RequestOptions` subset). */
export interface StripeRequestOptions {
  idempotencyKey?: string;
}

export type StripeMetadata = Record<string, string>;

/** A reference that Stripe returns either as an id or, when expanded, as the object. */
export type StripeRef = string | { id: string } | null;

export interface StripeCustomerCreateParams {
  name?: string;
  email?: string;
  metadata: StripeMetadata;
}

export interface StripeCheckoutSessionCreateParams {
  mode: 'payment';
  line_items: {
    quantity: number;
    price_data: { currency: string; unit_amount: number; product_data: { name: string } };
  }[];
  client_reference_id: string;
  metadata: StripeMetadata;
  payment_intent_data: { metadata: StripeMetadata };
  expires_at: number;
  customer?: string;
  customer_email?: string;
  success_url?: string;
  cancel_url?: string;
}

/** The Checkout Session fields careslot reads. */
export interface StripeCheckoutSessionLike {
  id: string;
  url: string | null;
  mode?: string | null;
  status: string | null;
  payment_status: string;
  payment_intent: StripeRef;
  amount_total: number | null;
  currency: string | null;
  expires_at: number;
  client_reference_id: string | null;
  metadata: StripeMetadata | null;
}

export interface StripeRefundCreateParams {
  payment_intent: string;
  amount: number;
  metadata: StripeMetadata;
  reason?: 'duplicate' | 'fraudulent' | 'requested_by_customer';
}

/** The Refund fields careslot reads. */
export interface StripeRefundLike {
  id: string;
  amount: number;
  currency: string;
  status: string | null;
  payment_intent: StripeRef;
  metadata: StripeMetadata | null;
}

/**
 * What `StripeCheckoutGateway` needs from the host's `new Stripe(secretKey)` instance. The
 * real client satisfies it; careslot never imports stripe at run time nor changes its settings.
 */
export interface StripeClient {
  customers: {
    create(params: StripeCustomerCreateParams, options?: StripeRequestOptions): Promise<{ id: string }>;
  };
  checkout: {
    sessions: {
      create(
        params: StripeCheckoutSessionCreateParams,
        options?: StripeRequestOptions,
      ): Promise<StripeCheckoutSessionLike>;
      retrieve(id: string): Promise<StripeCheckoutSessionLike>;
      expire(id: string): Promise<StripeCheckoutSessionLike>;
    };
  };
  refunds: {
    create(params: StripeRefundCreateParams, options?: StripeRequestOptions): Promise<StripeRefundLike>;
    list(params: { payment_intent: string; limit: number }): PromiseLike<{ data: StripeRefundLike[] }>;
  };
  webhooks: {
    constructEventAsync(
      payload: string | Uint8Array,
      header: string,
      secret: string,
      tolerance?: number,
      cryptoProvider?: undefined,
      receivedAt?: number,
    ): Promise<unknown>;
  };
}

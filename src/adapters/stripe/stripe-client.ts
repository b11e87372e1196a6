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

/** The Customer fields careslot reads when it looks for a customer an earlier attempt may have created. */
export interface StripeCustomerLike {
  id: string;
  created?: number;
  metadata: StripeMetadata | null;
}

/** One page of a Stripe list (newest first). */
export interface StripeList<T> {
  data: T[];
  has_more: boolean;
}

export interface StripeCustomerListParams {
  created?: { gte?: number };
  limit?: number;
  starting_after?: string;
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

/** The PaymentIntent fields careslot reads (a session's `payment_intent`, expanded). */
export interface StripePaymentIntentLike {
  id: string;
  status: string;
}

/** The Checkout Session fields careslot reads. */
export interface StripeCheckoutSessionLike {
  id: string;
  url: string | null;
  mode?: string | null;
  status: string | null;
  payment_status: string;
  /** An id, or the PaymentIntent when retrieved with `expand: ['payment_intent']`. */
  payment_intent: string | StripePaymentIntentLike | null;
  amount_total: number | null;
  currency: string | null;
  expires_at: number;
  client_reference_id: string | null;
  metadata: StripeMetadata | null;
}

export interface StripeRefundCreateParams {
  payment_intent: string;
  /** Omitted: everything not yet refunded on the PaymentIntent. */
  amount?: number;
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
 * real client satisfies it; careslot never imports stripe at run time nor changes its settings
 * (it only reads them: see `getMaxNetworkRetries`).
 */
export interface StripeClient {
  customers: {
    create(params: StripeCustomerCreateParams, options?: StripeRequestOptions): Promise<{ id: string }>;
    /** Strongly consistent: finds a customer the moment it exists. */
    list(params: StripeCustomerListParams): PromiseLike<StripeList<StripeCustomerLike>>;
    /** Eventually consistent (indexed within a minute, up to an hour in an outage); not offered everywhere. */
    search?(params: { query: string; limit?: number }): PromiseLike<{ data: StripeCustomerLike[] }>;
  };
  checkout: {
    sessions: {
      create(
        params: StripeCheckoutSessionCreateParams,
        options?: StripeRequestOptions,
      ): Promise<StripeCheckoutSessionLike>;
      retrieve(id: string, params?: { expand?: string[] }): Promise<StripeCheckoutSessionLike>;
      expire(id: string): Promise<StripeCheckoutSessionLike>;
    };
  };
  paymentIntents?: {
    retrieve(id: string): Promise<StripePaymentIntentLike>;
  };
  refunds: {
    create(params: StripeRefundCreateParams, options?: StripeRequestOptions): Promise<StripeRefundLike>;
    list(params: {
      payment_intent: string;
      limit: number;
      starting_after?: string;
    }): PromiseLike<StripeList<StripeRefundLike>>;
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
  /** stripe-node's retry count (`maxNetworkRetries`, 2 by default): read to size the `expires_at` margin. */
  getMaxNetworkRetries?(): number;
  /** stripe-node's longest pause between retries, in seconds (5). */
  getMaxNetworkRetryDelay?(): number;
  /** stripe-node's settings; careslot reads `timeout` (80 000 ms by default). */
  getApiField?(key: 'timeout'): unknown;
}

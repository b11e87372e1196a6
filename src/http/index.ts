// Framework-agnostic HTTP entry points.
export { nodeWebhook } from './node-webhook.js';
export {
  createWebhookHandler,
  type WebhookEngine,
  type WebhookHandler,
  type WebhookHandlerOptions,
  type WebhookInput,
  type WebhookResponse,
  type WebhookVerifier,
} from './webhook-handler.js';
export {
  createWebhookSender,
  WEBHOOK_RETRY_POLICY,
  type WebhookEndpointOptions,
  type WebhookSender,
  type WebhookSenderEndpoint,
  type WebhookSenderEngine,
  type WebhookSenderOptions,
} from './webhook-sender.js';
export {
  CARESLOT_EVENT_ID_HEADER,
  CARESLOT_SIGNATURE_HEADER,
  CARESLOT_TIMESTAMP_HEADER,
  type CareslotWebhookEvent,
  DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
  type SignCareslotWebhookInput,
  signCareslotWebhook,
  type VerifyCareslotWebhookInput,
  verifyCareslotWebhook,
} from './webhook-signature.js';

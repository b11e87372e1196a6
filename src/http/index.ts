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

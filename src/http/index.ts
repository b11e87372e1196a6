// Framework-agnostic HTTP entry points.
export {
  createWebhookHandler,
  type WebhookHandler,
  type WebhookHandlerOptions,
  type WebhookInput,
  type WebhookResponse,
} from './webhook-handler.js';

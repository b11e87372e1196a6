// What each effect does when delivered: the one place an effect's spec meets the ports.
import type { DeliveryMeta, Effect, EngineContext } from './context.js';
import { renderBooked, renderRefunded } from './notifications.js';
import { settleRefund } from './refund.js';

/** The outbox consumer that delivers an effect of this kind. */
export function consumerOf(effect: Effect): string {
  switch (effect.spec.kind) {
    case 'emit':
      return EVENTS_CONSUMER;
    case 'notify':
    case 'notify.booked':
    case 'notify.refunded':
      return NOTIFIER_CONSUMER;
    case 'job.schedule':
    case 'job.cancel':
      return SCHEDULER_CONSUMER;
    default:
      return PAYMENTS_CONSUMER;
  }
}

export const EVENTS_CONSUMER = 'careslot:events';
export const NOTIFIER_CONSUMER = 'careslot:notifier';
export const SCHEDULER_CONSUMER = 'careslot:scheduler';
export const PAYMENTS_CONSUMER = 'careslot:payments';
export const BUILT_IN_CONSUMERS = [EVENTS_CONSUMER, NOTIFIER_CONSUMER, SCHEDULER_CONSUMER, PAYMENTS_CONSUMER] as const;

/** Runs the effect against the ports; throws when it failed, so the outbox retries it. */
export async function runEffect(ctx: EngineContext, effect: Effect, meta: DeliveryMeta): Promise<void> {
  const spec = effect.spec;
  const delivery = { deliveryId: meta.eventId, attempt: meta.attempt };
  switch (spec.kind) {
    case 'emit':
      ctx.emit(spec.event, spec.args as never);
      return;
    case 'notify':
      await ctx.notifier.notify(spec.notification, delivery);
      return;
    case 'notify.booked':
      await ctx.notifier.notify(await renderBooked(ctx, spec.booking, spec.recipient), delivery);
      return;
    case 'notify.refunded': {
      const notification = await renderRefunded(ctx, spec.payment, spec.refund);
      if (notification) await ctx.notifier.notify(notification, delivery);
      return;
    }
    case 'job.schedule':
      await ctx.scheduler.schedule(spec.job);
      return;
    case 'job.cancel':
      await ctx.scheduler.cancel({ name: spec.name, id: spec.id });
      return;
    case 'refund.settle':
      await settleRefund(ctx, spec.paymentId, spec.refundId);
      return;
    case 'checkout.expire':
      await ctx.payments.expireCheckout({ sessionId: spec.sessionId });
      return;
  }
}

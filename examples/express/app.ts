// The example host: an Express app that uses only careslot's public API.
import { type Actor, type Booking, isBookingError, type Notification, type Schedule } from 'careslot';
import { expressWebhook } from 'careslot/express';
import express, { type NextFunction, type Request, type Response } from 'express';
import { FormError, formFieldOf, parseHoursForm, parseTimeOffForm } from './availability-form.js';
import type { CareslotSetup } from './careslot.js';
import { DEMO_DOCTORS, DEMO_PATIENTS } from './demo-users.js';
import {
  checkoutPage,
  chooseUserPage,
  doctorPage,
  homePage,
  type PageDoctor,
  type PageNotice,
  patientPage,
} from './pages.js';

export interface AppOptions {
  careslot: CareslotSetup;
  /** The app's own base URL; the local checkout page posts the provider's webhook here. */
  selfUrl: () => string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * DEMO AUTHENTICATION — THE PART A HOST REPLACES. The caller names itself in the
 * `x-demo-user` header (or `?user=` for EventSource) as `role:id`, e.g. `patient:65d0...a01`.
 * Your app derives the actor from its own session or token instead.
 */
function actorOf(req: Request): Actor {
  const raw = req.get('x-demo-user') ?? (typeof req.query.user === 'string' ? req.query.user : undefined);
  const match = raw?.match(/^(patient|doctor|admin):([\w-]{1,64})$/);
  if (!match)
    throw new HttpError(
      401,
      'UNAUTHENTICATED',
      'Name yourself with the x-demo-user header: role:id (patient, doctor or admin)',
    );
  return { role: match[1] as Actor['role'], id: match[2] as string };
}

function requireRole(actor: Actor, ...roles: Actor['role'][]): void {
  if (!roles.includes(actor.role)) throw new HttpError(403, 'NOT_ALLOWED', `Only ${roles.join(' or ')} may do this`);
}

function mayRead(actor: Actor, booking: Booking): boolean {
  return actor.role === 'admin' || actor.id === booking.patientId || actor.id === booking.doctorId;
}

/** The doctor a page is for: a demo doctor's name and zone, or the id alone on the demo doctor's zone. */
function pageDoctor(id: string): PageDoctor {
  const known = DEMO_DOCTORS.find((d) => d.id === id);
  return known ? { ...known } : { id, name: id, timeZone: DEMO_DOCTORS[0].timeZone };
}

/** What a form page shows for a failed submission, with its status; null for errors the JSON handler answers. */
function noticeOf(error: unknown): { status: number; notice: PageNotice } | null {
  if (error instanceof FormError) return { status: 400, notice: { field: error.field, message: error.message } };
  if (!isBookingError(error)) return null;
  const details = error.details as { field?: unknown; issues?: { path?: unknown }[] } | undefined;
  const field = details?.field ?? details?.issues?.[0]?.path;
  return {
    status: error.status,
    notice: { ...(typeof field === 'string' && field ? { field: formFieldOf(field) } : {}), message: error.message },
  };
}

const wantsHtml = (req: Request) => req.accepts(['html', 'json']) === 'html';

/** Days of computed slots the patient page lists. */
const PATIENT_PAGE_DAYS = 7;
const DAY_MS = 86_400_000;

const money = (amount: number, currency: string) => `${(amount / 100).toFixed(2)} ${currency.toUpperCase()}`;

type Handler = (req: Request, res: Response) => Promise<void>;
const route =
  (handler: Handler) =>
  (req: Request, res: Response, next: NextFunction): void => {
    handler(req, res).catch(next);
  };

export function createApp(options: AppOptions): express.Express {
  const { engine, gateway, testGateway, notifier } = options.careslot;
  const app = express();
  app.disable('x-powered-by');

  // The webhook gets the raw body, before any JSON parser (see careslot/express).
  app.post(
    '/webhooks/payments',
    express.raw({ type: '*/*', limit: '1mb' }),
    expressWebhook({ engine, payments: gateway }),
  );

  app.use(express.json({ limit: '32kb' }));
  app.use(express.urlencoded({ extended: false, limit: '8kb' }));

  app.get('/', (_req, res) => {
    res.type('html').send(homePage());
  });
  app.get('/booked', (_req, res) => {
    res.type('html').send('<!doctype html><title>Booked</title><p>Payment received. Your booking is confirmed.</p>');
  });
  app.get('/health', (_req, res) => {
    res.json({ ok: true, mode: options.careslot.mode });
  });

  // Doctors publish and list their slots.
  app.post(
    '/doctors/me/slots',
    route(async (req, res) => {
      const actor = actorOf(req);
      requireRole(actor, 'doctor');
      const body = req.body as Record<string, unknown>;
      const schedule = await engine.createSchedule({ ...(body as object), doctorId: actor.id } as Parameters<
        typeof engine.createSchedule
      >[0]);
      res.status(201).json({ schedule });
    }),
  );

  app.get(
    '/slots',
    route(async (req, res) => {
      const q = req.query;
      const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
      const limit = str(q.limit);
      const schedules: Schedule[] = await engine.listSchedules({
        ...(str(q.doctorId) ? { doctorId: str(q.doctorId) } : {}),
        ...(str(q.status) ? { status: str(q.status) as Schedule['status'] } : {}),
        ...(str(q.from) ? { from: str(q.from) } : {}),
        ...(str(q.to) ? { to: str(q.to) } : {}),
        ...(limit !== undefined ? { limit: Number(limit) } : {}),
      });
      res.json({ schedules });
    }),
  );

  app.get(
    '/slots/:id',
    route(async (req, res) => {
      res.json({ schedule: await engine.getSchedule(String(req.params.id)) });
    }),
  );

  // Patients book; patients, doctors and admins cancel and reschedule.
  app.post(
    '/bookings',
    route(async (req, res) => {
      const actor = actorOf(req);
      requireRole(actor, 'patient');
      const body = req.body as {
        scheduleId?: unknown;
        doctorId?: unknown;
        startTime?: unknown;
        idempotencyKey?: unknown;
      };
      const options = {
        ...(typeof body.idempotencyKey === 'string' ? { idempotencyKey: body.idempotencyKey } : {}),
        ...(req.get('idempotency-key') ? { idempotencyKey: req.get('idempotency-key') as string } : {}),
      };
      // A computed slot is named by its doctor and start (as findSlots lists it), a published one by its id.
      const result = await engine.book(
        body.scheduleId === undefined && body.startTime !== undefined
          ? { patientId: actor.id, doctorId: body.doctorId as string, startTime: body.startTime as string, ...options }
          : { patientId: actor.id, scheduleId: body.scheduleId as string, ...options },
      );
      res.status(201).json(result);
    }),
  );

  app.get(
    '/bookings',
    route(async (req, res) => {
      const actor = actorOf(req);
      const bookings = await engine.listBookings(
        actor.role === 'patient' ? { patientId: actor.id } : actor.role === 'doctor' ? { doctorId: actor.id } : {},
      );
      res.json({ bookings });
    }),
  );

  app.get(
    '/bookings/:id',
    route(async (req, res) => {
      const actor = actorOf(req);
      const booking = await engine.getBooking(String(req.params.id));
      if (!mayRead(actor, booking)) throw new HttpError(403, 'NOT_ALLOWED', 'Not your booking');
      res.json({ booking });
    }),
  );

  app.post(
    '/bookings/:id/cancel',
    route(async (req, res) => {
      const body = req.body as { reason?: unknown } | undefined;
      const result = await engine.cancelBooking({
        bookingId: String(req.params.id),
        actor: actorOf(req),
        ...(typeof body?.reason === 'string' ? { reason: body.reason } : {}),
      });
      res.json(result);
    }),
  );

  // What cancelling now would give back, for the caller: what a page shows before the confirm button.
  app.get(
    '/bookings/:id/cancellation-quote',
    route(async (req, res) => {
      res.json({ quote: await engine.quoteCancellation({ bookingId: String(req.params.id), actor: actorOf(req) }) });
    }),
  );

  // The doctor (or an admin) marks a patient who did not come, or takes it back within the grace period.
  for (const [path, act] of [
    ['/bookings/:id/no-show', engine.markNoShow],
    ['/bookings/:id/no-show/undo', engine.undoNoShow],
  ] as const) {
    app.post(
      path,
      route(async (req, res) => {
        const actor = actorOf(req);
        requireRole(actor, 'doctor', 'admin');
        res.json({ booking: await act.call(engine, { bookingId: String(req.params.id), actor }) });
      }),
    );
  }

  app.post(
    '/bookings/:id/reschedule',
    route(async (req, res) => {
      const body = req.body as { newScheduleId?: unknown };
      const result = await engine.reschedule({
        bookingId: String(req.params.id),
        newScheduleId: body.newScheduleId as string,
        actor: actorOf(req),
      });
      res.json(result);
    }),
  );

  app.post(
    '/bookings/:id/refund',
    route(async (req, res) => {
      const actor = actorOf(req);
      requireRole(actor, 'admin');
      const body = req.body as { amount?: unknown; reason?: unknown };
      const result = await engine.refund({
        bookingId: String(req.params.id),
        actor,
        ...(body.amount !== undefined ? { amount: body.amount as number } : {}),
        ...(typeof body.reason === 'string' ? { reason: body.reason } : {}),
      });
      res.json(result);
    }),
  );

  // Weekly hours: doctors set rules, anyone reads them and the slots computed from them.
  app.put(
    '/doctors/me/availability',
    route(async (req, res) => {
      const actor = actorOf(req);
      requireRole(actor, 'doctor');
      const body = req.body as Record<string, unknown>;
      const availability = await engine.setAvailability({ ...(body as object), doctorId: actor.id } as Parameters<
        typeof engine.setAvailability
      >[0]);
      res.json({ availability });
    }),
  );

  app.delete(
    '/doctors/me/availability',
    route(async (req, res) => {
      const actor = actorOf(req);
      requireRole(actor, 'doctor');
      res.json(await engine.clearAvailability({ doctorId: actor.id }));
    }),
  );

  app.get(
    '/doctors/:id/availability',
    route(async (req, res) => {
      res.json({ availability: await engine.getAvailability({ doctorId: String(req.params.id) }) });
    }),
  );

  app.get(
    '/doctors/:id/computed-slots',
    route(async (req, res) => {
      const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
      const now = options.careslot.clock.now();
      const limit = str(req.query.limit);
      const cursor = str(req.query.cursor);
      res.json(
        await engine.findSlots({
          doctorId: String(req.params.id),
          from: str(req.query.from) ?? now,
          to: str(req.query.to) ?? new Date(now.getTime() + PATIENT_PAGE_DAYS * DAY_MS),
          ...(limit !== undefined ? { limit: Number(limit) } : {}),
          ...(cursor !== undefined ? { cursor } : {}),
        }),
      );
    }),
  );

  app.post(
    '/doctors/me/time-off',
    route(async (req, res) => {
      const actor = actorOf(req);
      requireRole(actor, 'doctor');
      const body = req.body as Record<string, unknown>;
      const outcome = await engine.addTimeOff({ ...(body as object), doctorId: actor.id } as Parameters<
        typeof engine.addTimeOff
      >[0]);
      res.status(201).json(outcome);
    }),
  );

  app.get(
    '/doctors/:id/time-off',
    route(async (req, res) => {
      res.json({ timeOff: await engine.listTimeOff({ doctorId: String(req.params.id) }) });
    }),
  );

  /** Removes one of the doctor's own time off periods; someone else's is a 404, as if absent. */
  const removeOwnTimeOff = async (doctorId: string, timeOffId: string) => {
    const own = await engine.listTimeOff({ doctorId, from: new Date(0), limit: 1000 });
    if (!own.some((t) => t.id === timeOffId)) throw new HttpError(404, 'TIME_OFF_NOT_FOUND', 'No such time off');
    return engine.removeTimeOff({ timeOffId });
  };

  app.delete(
    '/doctors/me/time-off/:id',
    route(async (req, res) => {
      const actor = actorOf(req);
      requireRole(actor, 'doctor');
      res.json({ timeOff: await removeOwnTimeOff(actor.id, String(req.params.id)) });
    }),
  );

  // The doctor's page: HTML forms posting as `?user=doctor:id` (demo authentication), Post/Redirect/Get.
  const renderDoctorPage = async (
    user: string,
    doctorId: string,
    notice?: PageNotice,
    form?: Record<string, unknown>,
  ) =>
    doctorPage({
      doctor: pageDoctor(doctorId),
      user,
      availability: await engine.getAvailability({ doctorId }),
      timeOff: await engine.listTimeOff({ doctorId }),
      ...(notice ? { notice } : {}),
      ...(form ? { form } : {}),
    });

  /** A doctor-page form: on success back to the page; a bad field re-renders it with the field named (400). */
  const doctorForm = (work: (doctor: PageDoctor, form: Record<string, unknown>, req: Request) => Promise<unknown>) =>
    route(async (req, res) => {
      const actor = actorOf(req);
      requireRole(actor, 'doctor');
      const user = `doctor:${actor.id}`;
      const form = (req.body ?? {}) as Record<string, unknown>;
      try {
        await work(pageDoctor(actor.id), form, req);
      } catch (error) {
        const failed = noticeOf(error);
        if (!failed) throw error;
        if (!wantsHtml(req)) {
          const field = failed.notice.field;
          res.status(failed.status).json({
            error: {
              code: isBookingError(error) ? error.code : 'INVALID_INPUT',
              message: failed.notice.message,
              ...(field ? { details: { field } } : {}),
            },
          });
          return;
        }
        res
          .status(failed.status)
          .type('html')
          .send(await renderDoctorPage(user, actor.id, failed.notice, form));
        return;
      }
      res.redirect(303, `/doctor?user=${encodeURIComponent(user)}`);
    });

  app.get(
    '/doctor',
    route(async (req, res) => {
      if (req.query.user === undefined && !req.get('x-demo-user')) {
        const users = DEMO_DOCTORS.map((d) => ({ value: `doctor:${d.id}`, label: d.name }));
        res.type('html').send(chooseUserPage('/doctor', 'Weekly hours', users));
        return;
      }
      const actor = actorOf(req);
      requireRole(actor, 'doctor');
      res.type('html').send(await renderDoctorPage(`doctor:${actor.id}`, actor.id));
    }),
  );
  app.post(
    '/doctor/hours',
    doctorForm((doctor, form) => engine.setAvailability(parseHoursForm(form, doctor.id, doctor.timeZone))),
  );
  app.post(
    '/doctor/time-off',
    doctorForm((doctor, form) => engine.addTimeOff(parseTimeOffForm(form, doctor.id, doctor.timeZone))),
  );
  app.post(
    '/doctor/time-off/:id/remove',
    doctorForm((doctor, _form, req) => removeOwnTimeOff(doctor.id, String(req.params.id))),
  );

  // The patient's page: the computed slots of the next days, a book button each, into the same checkout.
  const renderPatientPage = async (actor: Actor, doctorId: string, notice?: PageNotice) => {
    const user = `patient:${actor.id}`;
    const now = options.careslot.clock.now();
    const { slots } = await engine.findSlots({
      doctorId,
      from: now,
      to: new Date(now.getTime() + PATIENT_PAGE_DAYS * DAY_MS),
      limit: 1000,
    });
    const upcoming = (await engine.listBookings({ patientId: actor.id })).filter(
      (b) => (b.status === 'scheduled' || b.status === 'pending') && b.slotStart > now,
    );
    upcoming.sort((a, b) => a.slotStart.getTime() - b.slotStart.getTime());
    const bookings = await Promise.all(
      upcoming.map(async (booking) => ({
        booking,
        quote: await engine.quoteCancellation({ bookingId: booking.id, actor }),
      })),
    );
    return patientPage({
      doctor: pageDoctor(doctorId),
      user,
      slots,
      days: PATIENT_PAGE_DAYS,
      bookings,
      ...(notice ? { notice } : {}),
    });
  };
  const doctorOf = (req: Request) => (typeof req.query.doctorId === 'string' ? req.query.doctorId : DEMO_DOCTORS[0].id);

  app.get(
    '/patient',
    route(async (req, res) => {
      if (req.query.user === undefined && !req.get('x-demo-user')) {
        const users = DEMO_PATIENTS.map((p) => ({ value: `patient:${p.id}`, label: `${p.name} (${p.plan})` }));
        res.type('html').send(chooseUserPage('/patient', 'Book a computed slot', users));
        return;
      }
      const actor = actorOf(req);
      requireRole(actor, 'patient');
      res.type('html').send(await renderPatientPage(actor, doctorOf(req)));
    }),
  );

  app.post(
    '/patient/book',
    route(async (req, res) => {
      const actor = actorOf(req);
      requireRole(actor, 'patient');
      const form = (req.body ?? {}) as Record<string, unknown>;
      const doctorId = typeof form.doctorId === 'string' ? form.doctorId : DEMO_DOCTORS[0].id;
      try {
        const result = await engine.book({ patientId: actor.id, doctorId, startTime: form.startTime as string });
        // Paid: on to the provider's hosted checkout, as the published-slot booking goes; free: booked already.
        res.redirect(303, result.paymentUrl ?? '/booked');
      } catch (error) {
        const failed = noticeOf(error);
        if (!failed || !wantsHtml(req)) throw error;
        res
          .status(failed.status)
          .type('html')
          .send(await renderPatientPage(actor, doctorId, failed.notice));
      }
    }),
  );

  // Cancelling from the patient page: the page showed the quote; this applies the same policy now.
  app.post(
    '/patient/bookings/:id/cancel',
    route(async (req, res) => {
      const actor = actorOf(req);
      requireRole(actor, 'patient');
      try {
        await engine.cancelBooking({ bookingId: String(req.params.id), actor });
        res.redirect(303, `/patient?user=${encodeURIComponent(`patient:${actor.id}`)}`);
      } catch (error) {
        const failed = noticeOf(error);
        if (!failed || !wantsHtml(req)) throw error;
        res
          .status(failed.status)
          .type('html')
          .send(await renderPatientPage(actor, DEMO_DOCTORS[0].id, failed.notice));
      }
    }),
  );

  app.get(
    '/doctors/:id/wallet',
    route(async (req, res) => {
      const actor = actorOf(req);
      if (!(actor.role === 'admin' || (actor.role === 'doctor' && actor.id === req.params.id))) {
        throw new HttpError(403, 'NOT_ALLOWED', "Only the doctor or an admin may see a doctor's wallet");
      }
      res.json({ wallet: await engine.getWallet(String(req.params.id)) });
    }),
  );

  // Real-time notifications for the signed-in person, as Server-Sent Events.
  app.get('/events', (req, res, next) => {
    let actor: Actor;
    try {
      actor = actorOf(req);
    } catch (error) {
      next(error);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': connected\n\n');
    const forward = (n: Notification) => {
      const mine = n.recipient.role === actor.role && (actor.role === 'admin' || n.recipient.id === actor.id);
      if (mine) res.write(`event: ${n.type}\ndata: ${JSON.stringify(n)}\n\n`);
    };
    notifier.on('notification', forward);
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    req.on('close', () => {
      clearInterval(ping);
      notifier.off('notification', forward);
    });
  });

  // Embedded mode only: the simulated provider's hosted checkout page.
  if (testGateway) {
    const deliver = async (event: ReturnType<typeof testGateway.pay>) => {
      const signed = testGateway.signWebhook(event);
      const response = await fetch(`${options.selfUrl()}/webhooks/payments`, {
        method: 'POST',
        body: signed.rawBody,
        headers: signed.headers,
      });
      return (await response.json()) as { outcome?: string };
    };
    const sessionOf = (req: Request) => {
      const session = testGateway.sessions.get(String(req.params.id));
      if (!session) throw new HttpError(404, 'SESSION_NOT_FOUND', 'No such checkout session');
      return session;
    };
    app.get(
      '/checkout/:id',
      route(async (req, res) => {
        const session = sessionOf(req);
        res
          .type('html')
          .send(
            checkoutPage(session.id, money(session.amount, session.currency), session.status, session.declinedAttempts),
          );
      }),
    );
    app.post(
      '/checkout/:id/:action',
      route(async (req, res) => {
        const session = sessionOf(req);
        const action = String(req.params.action);
        if (session.status !== 'open') throw new HttpError(409, 'SESSION_CLOSED', `This checkout is ${session.status}`);
        let outcome = 'declined';
        if (action === 'pay') outcome = (await deliver(testGateway.pay(session.id))).outcome ?? 'unknown';
        else if (action === 'fail') outcome = (await deliver(testGateway.failPayment(session.id))).outcome ?? 'unknown';
        else if (action === 'decline') testGateway.decline(session.id);
        else throw new HttpError(404, 'NOT_FOUND', 'Unknown checkout action');
        if (req.accepts(['json', 'html']) === 'json') {
          res.json({ sessionId: session.id, action, outcome, status: session.status });
          return;
        }
        res.redirect(303, action === 'pay' && session.successUrl ? session.successUrl : `/checkout/${session.id}`);
      }),
    );
  }

  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'NOT_FOUND', message: 'No such route' } });
  });

  // Every error becomes JSON with a stable code; never a stack trace.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (isBookingError(error)) {
      res.status(error.status).json(error.toJSON());
      return;
    }
    if (error instanceof HttpError) {
      res.status(error.status).json({ error: { code: error.code, message: error.message } });
      return;
    }
    const status = (error as { status?: number; type?: string }).status;
    if (status === 400 || (error as { type?: string }).type === 'entity.parse.failed') {
      res.status(400).json({ error: { code: 'INVALID_INPUT', message: 'The request body is not valid JSON' } });
      return;
    }
    if (status === 413) {
      res.status(413).json({ error: { code: 'INVALID_INPUT', message: 'The request body is too large' } });
      return;
    }
    console.error('example: unexpected error', error);
    res.status(500).json({ error: { code: 'INTERNAL', message: 'Something went wrong' } });
  });
  return app;
}

// Turns what a host has (a Node request, or a raw body and headers) into one fetch-standard Request.
import type { IncomingMessage } from 'node:http';
import { BookingError } from '../domain/errors.js';
import { RAW_BODY_HINT } from '../ports/payment-gateway.js';

/** A Node request, possibly after a body parser set `body` (Express `req` is one). */
export type NodeRequest = IncomingMessage & { body?: unknown };

/** Headers as Node and the status+body form carry them. */
export type HeaderRecord = Record<string, string | string[] | undefined>;

/** Only the body's bytes are read; the URL exists because a Request needs one. */
const PLACEHOLDER_ORIGIN = 'http://localhost';

function isRawBody(value: unknown): value is string | Uint8Array {
  return typeof value === 'string' || value instanceof Uint8Array;
}

function notRaw(): BookingError {
  return new BookingError('INVALID_INPUT', RAW_BODY_HINT);
}

/**
 * When the bytes are already in hand, their own length is the truth: a Content-Length from the
 * wire may describe a compressed body that a parser inflated.
 */
function toHeaders(record: HeaderRecord, bodyInHand: boolean): Headers {
  const headers = new Headers();
  try {
    for (const [name, value] of Object.entries(record ?? {})) {
      if (value === undefined || name.startsWith(':')) continue; // HTTP/2 pseudo-headers are not headers
      const lower = name.toLowerCase();
      if (bodyInHand && (lower === 'content-length' || lower === 'transfer-encoding')) continue;
      for (const one of Array.isArray(value) ? value : [value]) headers.append(lower, one);
    }
  } catch (error) {
    throw new BookingError('INVALID_INPUT', 'Webhook headers are not valid HTTP headers', { cause: error });
  }
  return headers;
}

/**
 * The IncomingMessage as a pull stream: nothing is read until the handler reads, so its size cap
 * stops the upload. Cancelling drains the rest without keeping it, so the response can still be
 * written (the Node writer then closes the connection).
 */
function streamOf(req: IncomingMessage): ReadableStream<Uint8Array> {
  let settled = false;
  let controller: ReadableStreamDefaultController<Uint8Array>;
  const onData = (chunk: Buffer | string) => {
    controller.enqueue(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if ((controller.desiredSize ?? 0) <= 0) req.pause();
  };
  const detach = () => {
    settled = true;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
    req.off('close', onClose);
  };
  const onEnd = () => {
    detach();
    controller.close();
  };
  const onError = (error: Error) => {
    detach();
    controller.error(error);
  };
  const onClose = () => {
    if (!settled) onError(new Error('The request closed before its body ended'));
  };
  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        req.pause();
        req.on('data', onData);
        req.on('end', onEnd);
        req.on('error', onError);
        req.on('close', onClose);
      },
      pull() {
        req.resume();
      },
      cancel() {
        detach();
        req.resume();
      },
    },
    { highWaterMark: 0 },
  );
}

/** True when something already took bytes from the stream (a parser, or a handler before us). */
function alreadyRead(req: IncomingMessage): boolean {
  return req.readableEnded || req.destroyed || req.readableDidRead;
}

/**
 * Converts a Node request into a fetch-standard Request, without reading it: a Buffer or string
 * body (from `express.raw`/`express.text`) is used as is; without a body parser the
 * IncomingMessage is streamed. Throws `BookingError('INVALID_INPUT')` with `RAW_BODY_HINT` when
 * the body was parsed into an object, or when the stream was already read.
 */
export function requestFromNode(req: NodeRequest): Request {
  const body = req.body;
  const method = (req.method ?? 'POST').toUpperCase();
  let url = `${PLACEHOLDER_ORIGIN}/`;
  try {
    url = new URL(req.url ?? '/', PLACEHOLDER_ORIGIN).href;
  } catch {
    // An unparseable request target changes nothing: only the body and headers are used.
  }
  const init = (headers: Headers, payload: BodyInit | null): Request => {
    try {
      const hasBody = method !== 'GET' && method !== 'HEAD';
      return new Request(url, {
        method,
        headers,
        body: hasBody ? payload : null,
        ...(payload instanceof ReadableStream && hasBody ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (error) {
      throw new BookingError('INVALID_INPUT', `Webhook request cannot be read: ${(error as Error).message}`, {
        cause: error,
      });
    }
  };
  if (isRawBody(body)) return init(toHeaders(req.headers, true), body as BodyInit);
  // A parser that skipped this request may still leave a placeholder (body-parser 1.x sets `{}`):
  // only a stream nobody has read is still the raw body.
  if (alreadyRead(req)) {
    throw body === undefined
      ? new BookingError('INVALID_INPUT', `The request body was already read. ${RAW_BODY_HINT}`)
      : notRaw();
  }
  return init(toHeaders(req.headers, false), streamOf(req));
}

/**
 * The status+body form's input when the body is already in hand (a Buffer or string from
 * `express.raw`/`express.text`), as `requestFromNode` would read it (a GET or HEAD has no body);
 * null when the stream is still to be read (or was parsed: `requestFromNode` says which).
 */
export function inHandInput(req: NodeRequest): { rawBody: string | Uint8Array; headers: HeaderRecord } | null {
  const body = req.body;
  if (!isRawBody(body)) return null;
  const method = (req.method ?? 'POST').toUpperCase();
  return { rawBody: method === 'GET' || method === 'HEAD' ? '' : body, headers: req.headers };
}

/**
 * Converts the status+body form's input into a fetch-standard Request. Throws
 * `BookingError('INVALID_INPUT')` with `RAW_BODY_HINT` when `rawBody` is not a string or bytes.
 */
export function requestFromRaw(input: { rawBody: unknown; headers?: HeaderRecord }): Request {
  const rawBody = input?.rawBody;
  if (!isRawBody(rawBody)) throw notRaw();
  return new Request(`${PLACEHOLDER_ORIGIN}/`, {
    method: 'POST',
    headers: toHeaders(input.headers ?? {}, true),
    body: rawBody as BodyInit,
  });
}

/** The header list a handler reads: lower-case names, repeated ones joined as fetch's `Headers` joins them. */
export function headerRecord(headers: Headers): Record<string, string> {
  const record: Record<string, string> = {};
  headers.forEach((value, key) => {
    record[key] = value;
  });
  return record;
}

const utf8 = new TextEncoder();
const HTTP_WHITESPACE_ENDS = /^[\t\n\r ]+|[\t\n\r ]+$/g;

/**
 * What `requestFromRaw(input)` would hand the handler once its body is read, without building the
 * Request, its stream or a Response: the body's bytes (a string as UTF-8, bytes copied, as fetch
 * copies them) and its headers as `headerRecord` gives them. Throws as `requestFromRaw` does.
 */
export function rawParts(input: { rawBody: unknown; headers?: HeaderRecord }): {
  rawBody: Uint8Array;
  headers: Record<string, string>;
} {
  const rawBody = input?.rawBody;
  if (!isRawBody(rawBody)) throw notRaw();
  const headers = headerRecord(toHeaders(input.headers ?? {}, true));
  // A Request copies its headers once more, which trims the values a repeated header was joined into.
  for (const name in headers) headers[name] = (headers[name] as string).replace(HTTP_WHITESPACE_ENDS, '');
  // fetch gives a string body this type when the headers name none.
  if (typeof rawBody === 'string' && headers['content-type'] === undefined)
    headers['content-type'] = 'text/plain;charset=UTF-8';
  return { rawBody: typeof rawBody === 'string' ? utf8.encode(rawBody) : new Uint8Array(rawBody), headers };
}

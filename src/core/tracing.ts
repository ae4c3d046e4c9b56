/**
 * OpenTelemetry spans, when the application uses OpenTelemetry:
 * `@opentelemetry/api` is an optional peer dependency, imported once on
 * demand. Without it, or with no tracer provider registered (every span
 * non-recording), each hook costs a null check or one no-op span.
 *
 * A producer span at dispatch, its W3C trace context stored with the call;
 * a consumer span per attempt, child of and linked to it; under a workflow's
 * attempt, a span per step it runs.
 */
import { createRequire } from 'node:module';
import type { Attributes, Span, SpanContext } from '@opentelemetry/api';

type Api = typeof import('@opentelemetry/api');

const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string })
  .version;
const TRACER = 'pgdispatch';

let api: Api | null | undefined;
let loading: Promise<Api | null> | undefined;
// A proxy: it finds a provider registered after the first call.
let tracer: import('@opentelemetry/api').Tracer | undefined;

/** Whether the import was tried: after that, the hooks below decide synchronously. */
export function openTelemetryLoaded(): boolean {
  return api !== undefined;
}

/** Imports @opentelemetry/api once; resolves to null when it is not installed. */
export function loadOpenTelemetry(): Promise<Api | null> {
  loading ??= import('@opentelemetry/api').then(
    (m) => {
      api = m;
      return m;
    },
    () => {
      api = null;
      return null;
    },
  );
  return loading;
}

/** A call's trace context as stored in `calls.trace_context`: W3C Trace Context headers. */
export interface TraceCarrier {
  traceparent: string;
  tracestate?: string;
}

/** The producer span of one dispatch (or one batch). */
export interface DispatchSpan {
  /** The trace context to store with the call(s). */
  readonly carrier: TraceCarrier;
  /** Ends the span with the call ids, or with the error that stopped the dispatch. */
  end(callIds: readonly string[], error?: unknown): void;
}

/**
 * Starts the producer span of a dispatch, in the caller's active context.
 * Undefined when tracing is off (no API, no provider, or a span that neither
 * records nor carries a valid context).
 */
export function startDispatchSpan(functionName: string, count: number): DispatchSpan | undefined {
  if (!api) return undefined;
  const { trace, SpanKind } = api;
  tracer ??= trace.getTracer(TRACER, VERSION);
  const span = tracer.startSpan(`send ${functionName}`, { kind: SpanKind.PRODUCER });
  const sc = span.spanContext();
  if (!span.isRecording()) {
    // Not sampled, or no provider: pass on a valid parent's context, record nothing.
    return trace.isSpanContextValid(sc) ? { carrier: carrierOf(sc), end: () => {} } : undefined;
  }
  // Set after the check: a no-op span costs no attribute object.
  span.setAttributes({
    'messaging.system': 'pgdispatch',
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'dispatch',
    'messaging.destination.name': functionName,
  });
  if (count !== 1) span.setAttribute('messaging.batch.message_count', count);
  const carrier = carrierOf(sc);
  const { SpanStatusCode } = api;
  return {
    carrier,
    end(callIds, error) {
      if (error !== undefined) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      } else if (callIds.length === 1) {
        span.setAttribute('messaging.message.id', callIds[0]!);
      }
      span.end();
    },
  };
}

function carrierOf(sc: SpanContext): TraceCarrier {
  const flags = (sc.traceFlags & 0xff).toString(16).padStart(2, '0');
  const carrier: TraceCarrier = { traceparent: `00-${sc.traceId}-${sc.spanId}-${flags}` };
  const state = sc.traceState?.serialize();
  if (state) carrier.tracestate = state;
  return carrier;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The remote span context a stored carrier names, or undefined when it is malformed. */
export function spanContextOf(carrier: unknown): SpanContext | undefined {
  if (!api || typeof carrier !== 'object' || carrier === null) return undefined;
  const { traceparent, tracestate } = carrier as Partial<TraceCarrier>;
  const m = typeof traceparent === 'string' ? TRACEPARENT.exec(traceparent) : null;
  if (!m) return undefined;
  const sc: SpanContext = {
    traceId: m[1]!,
    spanId: m[2]!,
    traceFlags: Number.parseInt(m[3]!, 16),
    isRemote: true,
  };
  if (typeof tracestate === 'string' && tracestate !== '') {
    sc.traceState = api.createTraceState(tracestate);
  }
  return api.trace.isSpanContextValid(sc) ? sc : undefined;
}

/** What a webhook attempt adds to its span (HTTP client semantic conventions). */
export interface HttpDetails {
  method: string;
  url: string;
  statusCode?: number;
}

/** The attempt context's method that takes a request's HTTP details, for its span. */
export const HTTP_REQUEST: unique symbol = Symbol('pgdispatch.httpRequest');

/** Tells the attempt behind `ctx` which request it sent, when it takes such details. */
export function reportHttpRequest(ctx: object, details: { method: string; url: string }): void {
  (ctx as { [HTTP_REQUEST]?: (d: { method: string; url: string }) => void })[HTTP_REQUEST]?.(
    details,
  );
}

/** The consumer span of one attempt. */
export interface AttemptSpan {
  /** Runs the handler with this span active, so the handler's own spans nest under it. */
  run<T>(fn: () => T): T;
  http(details: HttpDetails): void;
  /** A child span for one step a workflow runs (not for a step replayed from its row). */
  step(name: string, kind: string, seq: number, attempt: number): StepSpan;
  end(outcome: string, error: string | null): void;
}

/** The span of one run of a workflow step's function. */
export interface StepSpan {
  /** Runs the step's function with this span active. */
  run<T>(fn: () => T): T;
  end(error?: unknown): void;
}

// A suspended workflow attempt ended as it should: not an error.
const NOT_ERRORS: ReadonlySet<string> = new Set(['ok', 'suspended']);

/**
 * Starts the consumer span of an attempt: a child of the dispatch's span when
 * the call has a stored trace context, and linked to it. Undefined when
 * tracing is off.
 */
export function startAttemptSpan(
  functionName: string,
  callId: string,
  attempt: number,
  carrier: unknown,
): AttemptSpan | undefined {
  if (!api) return undefined;
  const { trace, context, SpanKind, ROOT_CONTEXT } = api;
  tracer ??= trace.getTracer(TRACER, VERSION);
  const producer = carrier == null ? undefined : spanContextOf(carrier);
  const parent = producer ? trace.setSpanContext(ROOT_CONTEXT, producer) : ROOT_CONTEXT;
  const span: Span = tracer.startSpan(
    `process ${functionName}`,
    { kind: SpanKind.CONSUMER, ...(producer ? { links: [{ context: producer }] } : {}) },
    parent,
  );
  if (!span.isRecording()) return undefined;
  span.setAttributes({
    'messaging.system': 'pgdispatch',
    'messaging.operation.type': 'process',
    'messaging.operation.name': 'run',
    'messaging.destination.name': functionName,
    'messaging.message.id': callId,
    'pgdispatch.attempt': attempt,
  });
  const active = trace.setSpan(parent, span);
  const { SpanStatusCode } = api;
  return {
    run: (fn) => context.with(active, fn),
    http({ method, url, statusCode }) {
      const attributes: Attributes = { 'http.request.method': method };
      try {
        const u = new URL(url);
        u.username = '';
        u.password = '';
        attributes['url.full'] = u.href;
        attributes['server.address'] = u.hostname;
        attributes['server.port'] = Number(u.port) || (u.protocol === 'https:' ? 443 : 80);
      } catch {
        // Not a URL: the attempt's error says why; only the method is known.
      }
      if (statusCode !== undefined) attributes['http.response.status_code'] = statusCode;
      span.setAttributes(attributes);
    },
    step(name, kind, seq, attempt) {
      const child = tracer!.startSpan(
        `step ${name}`,
        {
          attributes: {
            'pgdispatch.step.name': name,
            'pgdispatch.step.kind': kind,
            'pgdispatch.step.seq': seq,
            'pgdispatch.step.attempt': attempt,
          },
        },
        active,
      );
      const inStep = trace.setSpan(active, child);
      let ended = false;
      return {
        run: (fn) => context.with(inStep, fn),
        end(error) {
          if (ended) return;
          ended = true;
          if (error !== undefined) {
            const message = error instanceof Error ? error.message : String(error);
            child.setStatus({ code: SpanStatusCode.ERROR, message });
            if (error instanceof Error) child.recordException(error);
          }
          child.end();
        },
      };
    },
    end(outcome, error) {
      span.setAttribute('pgdispatch.outcome', outcome);
      if (!NOT_ERRORS.has(outcome)) {
        span.setAttribute('error.type', outcome);
        span.setStatus({ code: SpanStatusCode.ERROR, ...(error ? { message: error } : {}) });
      }
      span.end();
    },
  };
}

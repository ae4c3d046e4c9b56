-- The W3C trace context of the dispatch that created a call, when the
-- application traces with OpenTelemetry: each attempt's span is a child of it.
alter table :"schema".calls add column trace_context jsonb;

comment on column :"schema".calls.trace_context is
  'W3C Trace Context of the dispatch ({"traceparent": "00-…", "tracestate": "…"}), or null when not traced.';

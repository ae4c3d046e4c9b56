-- Webhook endpoints: a named destination with its own secrets, retry policy,
-- timeouts and health. A call of the built-in `webhook` function addresses
-- one by `{"endpoint": "<name>"}`; the row's settings override the instance's.

create table :"schema".endpoints (
  name text primary key,
  url text not null,
  -- Signing secrets (whsec_…), newest first. Every secret signs each request,
  -- so a receiver that knows either accepts it during a rotation.
  secrets text[] not null default '{}',
  retry_policy text not null default 'webhook'
    references :"schema".retry_policies (name) on update cascade,
  -- Static headers sent with every request to this endpoint.
  headers jsonb not null default '{}',
  -- Null means the instance's setting.
  connect_timeout_ms integer check (connect_timeout_ms > 0),
  headers_timeout_ms integer check (headers_timeout_ms > 0),
  total_timeout_ms integer check (total_timeout_ms > 0),
  max_response_bytes integer check (max_response_bytes >= 0),
  allow_private_networks boolean,
  enabled boolean not null default true,
  disabled_at timestamptz,
  disabled_reason text,
  -- Start of the current run of failures (null while healthy): an endpoint
  -- failing continuously for `disable_after` is disabled.
  failing_since timestamptz,
  last_success_at timestamptz,
  last_failure_at timestamptz,
  disable_after interval not null default interval '5 days' check (disable_after > interval '0'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint endpoints_name check (name ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  constraint endpoints_url check (url ~ '^https?://'),
  constraint endpoints_headers check (jsonb_typeof(headers) = 'object'),
  constraint endpoints_secrets check (array_position(secrets, null) is null),
  constraint endpoints_disabled check (enabled = (disabled_at is null))
);

comment on column :"schema".endpoints.secrets is
  'Signing secrets, newest first; never logged nor copied into attempts.';

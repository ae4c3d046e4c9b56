create or replace function :"schema".is_retryable(status text) returns boolean
language sql immutable parallel safe as $$
  select status in ('timeout', 'throttled', 'temporary_error', 'dns_error', 'tcp_error', 'tls_error', 'http_error')
$$;

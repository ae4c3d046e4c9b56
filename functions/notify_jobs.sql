-- graphile-worker's notification, in its format; `window` is ours.
create or replace function :"schema".notify_jobs(n integer, window_ms integer)
returns void
language plpgsql as $$
begin
  if window_ms is null then
    return;
  elsif window_ms = 0 then
    perform pg_notify('jobs:insert', format('{"r":%s,"count":%s}', random(), n));
  else
    perform pg_notify('jobs:insert',
                      format('{"r":%s,"count":%s,"window":%s}', random(), n, window_ms));
  end if;
end
$$;

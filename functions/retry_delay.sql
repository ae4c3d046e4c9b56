-- The wait after failed attempt `attempt` under policy `p`. `rand` is in [0, 1).
create or replace function :"schema".retry_delay(
  p :"schema".retry_policies, attempt integer, rand double precision default random()
) returns interval
language sql stable parallel safe as $$
  select make_interval(secs =>
    case
      when p.delays is not null then
        extract(epoch from p.delays[least(greatest(attempt, 1), cardinality(p.delays))])
      else
        least(extract(epoch from p.cap),
              extract(epoch from p.base) * power(p.factor, least(greatest(attempt - 1, 0), 64)))
    end * (1 + p.jitter * (2 * rand - 1)))
$$;

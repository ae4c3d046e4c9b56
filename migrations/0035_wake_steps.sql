-- What a waiting workflow waits for: the steps its suspended run awaited.
-- Only they count down `wake_need`: a child or signal the body no longer
-- awaits (the losers of a ctx.any it already decided) finishes its step and
-- wakes nothing. `wake_any`: the run awaited ctx.any, so the first of those
-- steps to succeed wakes it at once, and failures only count down (all
-- failed wakes it too).
alter table :"schema".calls
  add column wake_steps integer[],
  add column wake_any boolean;

comment on column :"schema".calls.wake_steps is
  'A waiting workflow: the seqs of the steps it awaits (null: any of its steps).';
comment on column :"schema".calls.wake_any is
  'A waiting workflow awaiting ctx.any: the first awaited step to succeed wakes it.';

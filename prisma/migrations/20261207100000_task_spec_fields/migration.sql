-- A task's load, priority and expected run time are typed fields of its spec (`spec.load`,
-- `spec.priority`, `spec.expectedRunMs`), no longer the annotations `scheduling.eiaas.io/load`,
-- `scheduling.eiaas.io/priority` and `eiaas.io/expected-run-ms` that the planner, the binder and
-- this trigger each parsed from text. The usage trigger reads `spec.load`; the tasks already
-- stored have their annotations moved into their spec.

-- No writer may slip a task write in between the move and the recount below (writes wait; reads go on).
LOCK TABLE tasks IN EXCLUSIVE MODE;

-- One task row's hold, signed: +1 as it appears, -1 as it goes. Finished tasks hold nothing.
CREATE OR REPLACE FUNCTION eiaas_usage_of(t tasks, sign int) RETURNS eiaas_usage_delta
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN t.phase IN ('Succeeded', 'Failed') THEN ROW(t.node_name, t.namespace, 0, 0, 0, 0, 0)::eiaas_usage_delta
  ELSE ROW(t.node_name, t.namespace, sign,
           sign * eiaas_json_decimal(t.spec->'resources'->'cpu'),
           sign * eiaas_json_decimal(t.spec->'resources'->'memoryMiB'),
           sign * eiaas_json_decimal(t.spec->'resources'->'gpu'),
           sign * eiaas_json_decimal(t.spec->'load'))::eiaas_usage_delta END
$$;

-- As before, an update counts only the rows whose hold changed; a load edit is one of those.
CREATE OR REPLACE FUNCTION eiaas_track_task_usage() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  d eiaas_usage_delta[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    d := ARRAY(SELECT eiaas_usage_of(n, 1) FROM new_rows n);
  ELSIF TG_OP = 'DELETE' THEN
    d := ARRAY(SELECT eiaas_usage_of(o, -1) FROM old_rows o);
  ELSE
    d := ARRAY(SELECT x FROM old_rows o JOIN new_rows n ON n.uid = o.uid,
                 LATERAL (VALUES (eiaas_usage_of(n, 1)), (eiaas_usage_of(o, -1))) AS v(x)
               WHERE (o.phase IN ('Succeeded', 'Failed')) IS DISTINCT FROM (n.phase IN ('Succeeded', 'Failed'))
                  OR o.spec->'resources' IS DISTINCT FROM n.spec->'resources'
                  OR o.spec->'load' IS DISTINCT FROM n.spec->'load'
                  OR o.node_name IS DISTINCT FROM n.node_name OR o.namespace IS DISTINCT FROM n.namespace);
  END IF;
  IF cardinality(d) > 0 THEN
    PERFORM eiaas_apply_usage(d);
  END IF;
  RETURN NULL;
END
$$;

-- The annotations' text as the typed fields take it: a number the API would accept, else left out
-- (the planner only ever wrote such numbers; the old readers counted anything else as 0, or as a
-- negative load, which the field refuses). Nested CASEs: the cast runs only on text that is a number.
-- Rewritten in place, without a new resourceVersion: this runs before the processes that cache
-- tasks start, and each of those lists them afresh.
CREATE FUNCTION eiaas_annotation_number(v text, lo numeric, hi numeric, whole boolean) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN v ~ '^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d{1,3})?\s*$' THEN
    CASE WHEN v::numeric BETWEEN lo AND hi AND (NOT whole OR v::numeric = trunc(v::numeric)) THEN to_jsonb(v::numeric) END
  END
$$;

UPDATE tasks SET
  spec = spec || jsonb_strip_nulls(jsonb_build_object(
    'load', eiaas_annotation_number(annotations->>'scheduling.eiaas.io/load', 0, 1e300, false),
    'priority', eiaas_annotation_number(annotations->>'scheduling.eiaas.io/priority', -2147483648, 2147483647, true),
    'expectedRunMs', eiaas_annotation_number(annotations->>'eiaas.io/expected-run-ms', 0, 9007199254740991, true))),
  annotations = annotations - ARRAY['scheduling.eiaas.io/load', 'scheduling.eiaas.io/priority', 'eiaas.io/expected-run-ms']
WHERE annotations ?| ARRAY['scheduling.eiaas.io/load', 'scheduling.eiaas.io/priority', 'eiaas.io/expected-run-ms'];

-- The trigger counted that move as new load on top of what the annotations held: the holds are
-- summed again from the rows as they now are.
DELETE FROM node_usage;
DELETE FROM namespace_usage;
SELECT eiaas_apply_usage(ARRAY(SELECT eiaas_usage_of(t, 1) FROM tasks t));

-- Nothing reads a number from annotation text any more.
DROP FUNCTION eiaas_annotation_number(text, numeric, numeric, boolean);
DROP FUNCTION eiaas_text_decimal(text);

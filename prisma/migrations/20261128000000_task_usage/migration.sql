-- CreateTable
CREATE TABLE "node_usage" (
    "node_name" TEXT NOT NULL,
    "cpu" DECIMAL NOT NULL DEFAULT 0,
    "memory_mib" DECIMAL NOT NULL DEFAULT 0,
    "gpu" DECIMAL NOT NULL DEFAULT 0,
    "load" DECIMAL NOT NULL DEFAULT 0,
    "tasks" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "node_usage_pkey" PRIMARY KEY ("node_name")
);

-- CreateTable
CREATE TABLE "namespace_usage" (
    "namespace" TEXT NOT NULL,
    "cpu" DECIMAL NOT NULL DEFAULT 0,
    "memory_mib" DECIMAL NOT NULL DEFAULT 0,
    "gpu" DECIMAL NOT NULL DEFAULT 0,
    "tasks" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "namespace_usage_pkey" PRIMARY KEY ("namespace")
);

-- What the unfinished tasks hold per node and per namespace, kept in the writing transaction by a
-- statement-level trigger on `tasks` (one run per statement, however many rows it wrote). The
-- binder used to sum a node's tasks on every bind: a cost that grew with the tasks per node.
-- Every task write also takes the resource-version counter row first, so the upserts below are
-- serialised and cannot deadlock one another.

-- A JSON number as a decimal; anything else counts 0 (as the binder's Number(...) || 0).
CREATE OR REPLACE FUNCTION eiaas_json_decimal(v jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN jsonb_typeof(v) = 'number' THEN v::numeric ELSE 0 END
$$;

-- A decimal written as text (an annotation); anything else counts 0.
CREATE OR REPLACE FUNCTION eiaas_text_decimal(v text) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN v ~ '^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d{1,3})?\s*$' THEN v::numeric ELSE 0 END
$$;

CREATE TYPE eiaas_usage_delta AS (node_name text, namespace text, tasks bigint, cpu numeric, memory_mib numeric, gpu numeric, "load" numeric);

-- One task row's hold, signed: +1 as it appears, -1 as it goes. Finished tasks hold nothing.
CREATE OR REPLACE FUNCTION eiaas_usage_of(t tasks, sign int) RETURNS eiaas_usage_delta
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN t.phase IN ('Succeeded', 'Failed') THEN ROW(t.node_name, t.namespace, 0, 0, 0, 0, 0)::eiaas_usage_delta
  ELSE ROW(t.node_name, t.namespace, sign,
           sign * eiaas_json_decimal(t.spec->'resources'->'cpu'),
           sign * eiaas_json_decimal(t.spec->'resources'->'memoryMiB'),
           sign * eiaas_json_decimal(t.spec->'resources'->'gpu'),
           sign * eiaas_text_decimal(t.annotations->>'scheduling.eiaas.io/load'))::eiaas_usage_delta END
$$;

-- Adds one statement's deltas, one upsert per table; keys whose deltas cancel out (a task that
-- went from Dispatched to Running) are not written. plpgsql, not sql: its plans are kept for the
-- session, where a sql function's statements would be planned again on every call.
CREATE OR REPLACE FUNCTION eiaas_apply_usage(d eiaas_usage_delta[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO node_usage AS u (node_name, cpu, memory_mib, gpu, "load", tasks)
  SELECT x.node_name, sum(x.cpu), sum(x.memory_mib), sum(x.gpu), sum(x."load"), sum(x.tasks) FROM unnest(d) AS x WHERE x.node_name <> ''
  GROUP BY x.node_name
  HAVING sum(x.tasks) <> 0 OR sum(x.cpu) <> 0 OR sum(x.memory_mib) <> 0 OR sum(x.gpu) <> 0 OR sum(x."load") <> 0
  ON CONFLICT (node_name) DO UPDATE SET cpu = u.cpu + EXCLUDED.cpu, memory_mib = u.memory_mib + EXCLUDED.memory_mib,
    gpu = u.gpu + EXCLUDED.gpu, "load" = u."load" + EXCLUDED."load", tasks = u.tasks + EXCLUDED.tasks;
  INSERT INTO namespace_usage AS u (namespace, cpu, memory_mib, gpu, tasks)
  SELECT x.namespace, sum(x.cpu), sum(x.memory_mib), sum(x.gpu), sum(x.tasks) FROM unnest(d) AS x
  GROUP BY x.namespace
  HAVING sum(x.tasks) <> 0 OR sum(x.cpu) <> 0 OR sum(x.memory_mib) <> 0 OR sum(x.gpu) <> 0
  ON CONFLICT (namespace) DO UPDATE SET cpu = u.cpu + EXCLUDED.cpu, memory_mib = u.memory_mib + EXCLUDED.memory_mib,
    gpu = u.gpu + EXCLUDED.gpu, tasks = u.tasks + EXCLUDED.tasks;
END
$$;

-- Each trigger sees only its own transition tables; plpgsql plans a branch when it first runs it.
-- An update counts only the rows whose hold changed (finished, edited), so the status reports
-- that make up most task writes add nothing.
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
                  OR o.annotations->'scheduling.eiaas.io/load' IS DISTINCT FROM n.annotations->'scheduling.eiaas.io/load'
                  OR o.node_name IS DISTINCT FROM n.node_name OR o.namespace IS DISTINCT FROM n.namespace);
  END IF;
  IF cardinality(d) > 0 THEN
    PERFORM eiaas_apply_usage(d);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER tasks_usage_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION eiaas_track_task_usage();
CREATE TRIGGER tasks_usage_update AFTER UPDATE ON tasks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION eiaas_track_task_usage();
CREATE TRIGGER tasks_usage_delete AFTER DELETE ON tasks REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION eiaas_track_task_usage();

-- What the tasks already there hold.
SELECT eiaas_apply_usage(ARRAY(SELECT eiaas_usage_of(t, 1) FROM tasks t));

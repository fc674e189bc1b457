-- CreateTable
CREATE TABLE "namespace_object_counts" (
    "namespace" TEXT NOT NULL,
    "resource" TEXT NOT NULL,
    "count" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "namespace_object_counts_pkey" PRIMARY KEY ("namespace","resource")
);

ALTER TABLE "namespace_object_counts" SET (autovacuum_vacuum_cost_delay = 20);

-- Object-count quota (Kubernetes' `count/<resource>` in a ResourceQuota) for the kinds tenants
-- create. How many objects each namespace holds is kept by a statement-level trigger on each
-- counted table (one run per statement, with its transition tables), in the writing transaction.
-- Every write of these tables takes the resource-version counter row first, so the upserts below
-- are serialised and cannot deadlock; only inserts and deletes count (an object never changes
-- namespace), so status writes run no trigger.
CREATE OR REPLACE FUNCTION eiaas_count_objects() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO namespace_object_counts AS c (namespace, resource, count)
    SELECT n.namespace, TG_ARGV[0], count(*) FROM new_rows n GROUP BY n.namespace
    ON CONFLICT (namespace, resource) DO UPDATE SET count = c.count + EXCLUDED.count;
  ELSE
    UPDATE namespace_object_counts AS c SET count = c.count - o.n
    FROM (SELECT d.namespace, count(*) AS n FROM old_rows d GROUP BY d.namespace) AS o
    WHERE c.namespace = o.namespace AND c.resource = TG_ARGV[0];
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER models_count_insert AFTER INSERT ON models REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION eiaas_count_objects('models');
CREATE TRIGGER models_count_delete AFTER DELETE ON models REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION eiaas_count_objects('models');
CREATE TRIGGER inference_services_count_insert AFTER INSERT ON inference_services REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION eiaas_count_objects('inferenceservices');
CREATE TRIGGER inference_services_count_delete AFTER DELETE ON inference_services REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION eiaas_count_objects('inferenceservices');
CREATE TRIGGER training_jobs_count_insert AFTER INSERT ON training_jobs REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION eiaas_count_objects('trainingjobs');
CREATE TRIGGER training_jobs_count_delete AFTER DELETE ON training_jobs REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION eiaas_count_objects('trainingjobs');

-- What the objects already there count.
INSERT INTO namespace_object_counts (namespace, resource, count)
SELECT namespace, 'models', count(*) FROM models GROUP BY namespace
UNION ALL SELECT namespace, 'inferenceservices', count(*) FROM inference_services GROUP BY namespace
UNION ALL SELECT namespace, 'trainingjobs', count(*) FROM training_jobs GROUP BY namespace;

-- A JSON number as a decimal; anything else (absent included) is NULL.
CREATE OR REPLACE FUNCTION eiaas_json_count(v jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN jsonb_typeof(v) = 'number' THEN v::numeric END
$$;

-- Admits creating p_requested[i] objects of p_resource in namespace p_namespaces[i], or raises
-- (SQLSTATE EI403, Kubernetes' quota message) when a namespace would hold more than its tenant's
-- `spec.quota."count/<resource>"`, else p_defaults[i] (NULL: no cap). Called by the create
-- statement itself, with its version base as p_after: so the statement holds the counter row —
-- which every writer of these tables holds until it commits — before this runs, and the counts
-- this reads (a VOLATILE function's queries take a fresh snapshot) are those of every committed
-- write and of the earlier statements of its own transaction. Creates racing in other sessions or
-- other API servers queue behind it and see its rows when their turn comes.
CREATE OR REPLACE FUNCTION eiaas_admit_object_counts(p_resource text, p_namespaces text[], p_requested bigint[], p_defaults bigint[], p_after bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT x.namespace, x.requested, COALESCE(c.count, 0) AS used,
           COALESCE(eiaas_json_count(t.spec->'quota'->('count/' || p_resource)), x.default_limit) AS hard
    FROM (SELECT u.namespace, sum(u.n) AS requested, min(u.d) AS default_limit
          FROM unnest(p_namespaces, p_requested, p_defaults) AS u(namespace, n, d) GROUP BY u.namespace) AS x
    LEFT JOIN namespace_object_counts c ON c.namespace = x.namespace AND c.resource = p_resource
    LEFT JOIN tenants t ON t.namespace = '' AND t.name = x.namespace
    ORDER BY x.namespace
  LOOP
    IF r.hard IS NOT NULL AND r.used + r.requested > r.hard THEN
      RAISE EXCEPTION 'exceeded quota: %, requested: count/%=%, used: count/%=%, limited: count/%=%',
        r.namespace, p_resource, r.requested, p_resource, r.used, p_resource, r.hard
        USING ERRCODE = 'EI403';
    END IF;
  END LOOP;
  RETURN true;
END
$$;

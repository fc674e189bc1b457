-- ANALYZE leaves the JSON document columns out (statistics target 0): nothing filters, joins or
-- sorts on a whole spec, status, annotation map, owner list, finalizer list, log tail or watch-log
-- object, and ANALYZE sorting up to 30,000 sampled jsonb values per column for their histograms
-- was most of its cost. Measured in bench:dispatch (BENCH_PG_STATS=1): an ANALYZE of `tasks` at
-- 8,000-16,000 rows took 200-600 ms of Postgres CPU, one second in which reports slowed and the
-- slowest tasks of that second took 600-800 ms. Labels keep their statistics: label selectors
-- filter on them.
DO $$
DECLARE c record;
BEGIN
  FOR c IN
    SELECT table_name, column_name FROM information_schema.columns
    WHERE table_schema = current_schema()
      AND data_type IN ('jsonb', 'json')
      AND column_name IN ('spec', 'status', 'annotations', 'owner_references', 'finalizers', 'lines', 'object')
  LOOP
    EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET STATISTICS 0', c.table_name, c.column_name);
  END LOOP;
END $$;

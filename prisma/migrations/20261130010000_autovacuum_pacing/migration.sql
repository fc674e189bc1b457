-- Autovacuum paces its work on the control plane's tables: 20 ms of sleep per 200 cost units
-- instead of 2 ms. Their pages are in shared buffers, so an unpaced pass over a table of a few
-- tens of thousands of rows ran in one burst: in bench:dispatch's 5,000-node stage at 500 tasks/s
-- (BENCH_TIMELINE=1) an autovacuum worker took ~40% of a core for about a second, reports fell to
-- ~400/s, and that second's slowest tasks took 600-1,000 ms. Spread out, the same work leaves the
-- writers room.
DO $$
DECLARE t record;
BEGIN
  FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> '_prisma_migrations'
  LOOP
    EXECUTE format('ALTER TABLE %I SET (autovacuum_vacuum_cost_delay = 20)', t.tablename);
  END LOOP;
END $$;

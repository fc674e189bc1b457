-- Raises (SQLSTATE EI409) when a pipelined write statement matched another number of rows than
-- it had to: the statements of a transaction and its COMMIT are sent back to back, so a miss has
-- to abort the transaction in Postgres, not be noticed afterwards by the client.
CREATE OR REPLACE FUNCTION eiaas_expect_rows(actual bigint, expected bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF actual IS DISTINCT FROM expected THEN
    RAISE EXCEPTION 'write matched % of % row(s)', actual, expected USING ERRCODE = 'EI409';
  END IF;
  RETURN true;
END
$$;

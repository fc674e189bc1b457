-- The watch log is written once and read as text by every watcher: `json` keeps the text as
-- written. With `jsonb` every logged change was parsed into its binary form, rebuilt to set its
-- resourceVersion (jsonb_set), and turned back into text on each read (the scheduler's and each
-- API server's tail); now the writing statement joins the object's JSON around the version it
-- assigns and the cast only checks it. Operators on json (->, ->>) still work for ad-hoc queries.

-- AlterTable
ALTER TABLE "watch_events" ALTER COLUMN "object" SET DATA TYPE JSON USING "object"::json;

-- Log rows of a few KB (an InferenceService with its plan and endpoints) were compressed (pglz)
-- on every write to fit the default 2 KB target. The log is append-only and read back soon after:
-- its rows stay uncompressed and inline up to a page (not expressible in schema.prisma). Not for
-- the object tables: a bigger row leaves no room on its page for the next version, and a status
-- write stops being heap-only (measured: InferenceServices' HOT updates fell from 65% to 25%).
ALTER TABLE "watch_events" SET (toast_tuple_target = 8160);

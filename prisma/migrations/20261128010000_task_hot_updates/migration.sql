-- A task's status report changes its phase: with `phase` in two of its indexes every report was a
-- non-HOT update that inserted into all six of the table's indexes (the labels GIN one included).
-- Without it, and with room left on each page for the new row version, a report is a
-- heap-only-tuple update that touches no index. Nothing reads tasks by phase alone; a node's tasks
-- are found by node name. The same for InferenceServices, whose status the scheduler rewrites as
-- their tasks start (a list by phase scans the table, as it would mostly have to anyway).

-- DropIndex
DROP INDEX "tasks_phase_idx";

-- DropIndex
DROP INDEX "tasks_node_name_phase_idx";

-- CreateIndex
CREATE INDEX "tasks_node_name_idx" ON "tasks"("node_name");

-- DropIndex
DROP INDEX "inference_services_phase_idx";

-- Room on each page for updated row versions (not expressible in schema.prisma).
ALTER TABLE "tasks" SET (fillfactor = 70);
ALTER TABLE "inference_services" SET (fillfactor = 70);

-- The Redis ACL user of each node's agent, so the control plane can restore it when Redis restarts
-- empty: the password's SHA-256 only (what Redis keeps, `ACL SETUSER ... #<sha256>`), never the
-- plaintext. Gone with its node: the foreign key cascades on the node's delete. Users provisioned
-- before this migration have no row: their agents renew their registration when Redis refuses them.
-- CreateTable
CREATE TABLE "agent_redis_users" (
    "node_name" TEXT NOT NULL,
    "node_uid" UUID NOT NULL,
    "username" TEXT NOT NULL,
    "password_sha256" TEXT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "agent_redis_users_pkey" PRIMARY KEY ("node_name")
);

-- CreateIndex
CREATE INDEX "agent_redis_users_node_uid_idx" ON "agent_redis_users"("node_uid");

-- AddForeignKey
ALTER TABLE "agent_redis_users" ADD CONSTRAINT "agent_redis_users_node_uid_fkey" FOREIGN KEY ("node_uid") REFERENCES "edge_nodes"("uid") ON DELETE CASCADE ON UPDATE CASCADE;

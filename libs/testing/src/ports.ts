export { freePort } from "@eiaas/db";

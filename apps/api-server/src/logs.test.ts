import http from "node:http";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX } from "@eiaas/api";
import { startTestApi, type TestApi } from "@eiaas/testing/api-server";

let api: TestApi;
const admin = () => ({ Authorization: `Bearer ${api.adminToken}` });
const V = "eiaas.io/v1alpha1";
let agentA: string;
let agentB: string;

beforeAll(async () => {
  api = await startTestApi();
  await request(api.app)
    .post(`${API_PREFIX}/tenants`)
    .set(admin())
    .send({ apiVersion: V, kind: "Tenant", metadata: { name: "acme" } })
    .expect(201);
  for (const n of ["node-a", "node-b"])
    await request(api.app)
      .post(`${API_PREFIX}/edgenodes`)
      .set(admin())
      .send({ apiVersion: V, kind: "EdgeNode", metadata: { name: n }, spec: { tier: "edge" } })
      .expect(201);
  await request(api.app)
    .post(`${API_PREFIX}/namespaces/acme/tasks`)
    .set(admin())
    .send({ apiVersion: V, kind: "Task", metadata: { name: "t1" }, spec: { role: "serve", nodeName: "node-a" } })
    .expect(201);
  agentA = (await api.tokens.mint({ role: "agent", nodeName: "node-a" })).token;
  agentB = (await api.tokens.mint({ role: "agent", nodeName: "node-b" })).token;
});
afterAll(() => api.close());

const path = `${API_PREFIX}/namespaces/acme/tasks/t1/log`;

describe("task logs", () => {
  it("the node's agent forwards output; readers get the tail; other nodes' agents and bad input are refused", async () => {
    await request(api.app)
      .put(path)
      .set({ Authorization: `Bearer ${agentA}` })
      .send({ attempt: 1, lines: ["one", "two", "three"] })
      .expect(204);
    const all = await request(api.app).get(path).set(admin()).expect(200);
    expect(all.text).toBe("one\ntwo\nthree\n");
    expect((await request(api.app).get(path).query({ tailLines: "2" }).set(admin()).expect(200)).text).toBe("two\nthree\n");
    const tenant = await api.tenantToken("acme");
    expect(
      (
        await request(api.app)
          .get(path)
          .set({ Authorization: `Bearer ${tenant}` })
          .expect(200)
      ).text,
    ).toContain("three");
    await request(api.app)
      .put(path)
      .set({ Authorization: `Bearer ${agentB}` })
      .send({ attempt: 1, lines: ["forged"] })
      .expect(404);
    await request(api.app)
      .put(path)
      .set({ Authorization: `Bearer ${tenant}` })
      .send({ attempt: 1, lines: ["forged"] })
      .expect(403);
    await request(api.app)
      .put(path)
      .set({ Authorization: `Bearer ${agentA}` })
      .send({ attempt: 1, lines: "nope" })
      .expect(422);
    await request(api.app).get(`${API_PREFIX}/namespaces/acme/tasks/missing/log`).set(admin()).expect(404);
    await request(api.app).get(path).query({ tailLines: "x" }).set(admin()).expect(400);
  });

  it("follow streams lines appended later", async () => {
    const base = await api.listen();
    const got = await new Promise<string>((resolve, reject) => {
      let text = "";
      const req = http.get(`${base}${path}?follow=true`, { headers: admin() }, (res) => {
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
          if (text.includes("four")) {
            req.destroy();
            resolve(text);
          }
        });
      });
      req.on("error", (err) => (err.message.includes("socket hang up") ? undefined : reject(err)));
      setTimeout(
        () =>
          void request(api.app)
            .put(path)
            .set({ Authorization: `Bearer ${agentA}` })
            .send({ attempt: 1, lines: ["four"] })
            .then(() => undefined),
        300,
      );
      setTimeout(() => reject(new Error(`no follow output: ${text}`)), 10_000);
    });
    expect(got).toBe("one\ntwo\nthree\nfour\n");
  });
});

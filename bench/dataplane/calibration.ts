// Each node's speed as its agent measures it (apps/agent/src/host/dnn-gflops.ts): the calibration
// graphs of libs/onnx, here run by a serving container under the node's own CPU quota, so that
// what the quota does to onnxruntime (its time slices, other processes' use of the caches between
// them) is in the figure the planner is told, as it is in every segment the node serves.
import { calibrationModels, speedsFromTimes, type CalibrationModel } from "@eiaas/onnx";
import { BenchClient, median } from "./client.js";
import type { BenchNode, CoreSpeed } from "./fleet.js";
import type { Testbed } from "./testbed.js";

/** Median onnxruntime run time (ms, as the server reports it) of each calibration graph on `node`, over `requests` requests. */
export async function measureNodeSpeed(bed: Testbed, segments: Map<string, Uint8Array>, node: BenchNode, requests = 25): Promise<CoreSpeed> {
  const models = calibrationModels();
  const medianMs: Partial<Record<CalibrationModel["measures"], number>> = {};
  for (const m of models) {
    const name = `calibrate-${node.name}-${m.measures}`;
    segments.set(name, m.bytes);
    const server = await bed.serve(node, "serve", name, { from: 1, to: 1 });
    try {
      const elements = m.inputShape.reduce((a, b) => a * b, 1);
      const client = new BenchClient(server.endpoint, m.inputShape, Buffer.from(new Float32Array(elements).fill(0.1).buffer));
      for (let i = 0; i < 2; i++) await client.infer();
      const runs: number[] = [];
      for (let i = 0; i < requests; i++) runs.push((await client.infer()).headRunMs);
      client.close();
      medianMs[m.measures] = median(runs);
    } finally {
      await server.stop();
      segments.delete(name);
    }
  }
  const s = speedsFromTimes(models, medianMs);
  return { gflops: s.gflops, byOperator: s.byOperator };
}

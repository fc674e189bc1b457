export { NodeAgent, type AgentOptions } from "./agent.js";
export { SimulatedFleet, type FleetNode, type SimulatedFleetOptions } from "./fleet.js";

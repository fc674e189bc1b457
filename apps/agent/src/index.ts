export { NodeAgent, type AgentOptions } from "./agent.js";
export { FileCredentialStore, type AgentCredential, type CredentialStore } from "./credentials.js";
export { SimulatedFleet, type FleetNode, type SimulatedFleetOptions } from "./fleet.js";
export { ModelArtifacts, ArtifactError, type ModelArtifactsOptions } from "./artifacts.js";

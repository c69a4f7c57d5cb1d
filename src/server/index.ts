export { createBerthServer, BERTH_VERSION, toManagedVersion } from './server.js';
export type { BerthServer, BerthServerOptions } from './server.js';
export { ensureExampleDeployment, exampleDir, EXAMPLE_DEPLOYMENT, EXAMPLE_MODEL } from './example.js';
export { runClusterPrimary, createWorkerBridge, isClusterWorker, type ClusterBridge, type RepositoryAction } from './cluster.js';

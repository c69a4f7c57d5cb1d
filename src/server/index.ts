export { createBerthServer, BERTH_VERSION } from './server.js';
export { toManagedVersion } from '../serving/index.js';
export type { BerthServer, BerthServerOptions } from './server.js';
export { ensureExampleDeployment, exampleDir, EXAMPLE_DEPLOYMENT, EXAMPLE_MODEL } from './example.js';
export { runClusterPrimary, createWorkerBridge, isClusterWorker, type ClusterBridge, type RepositoryAction } from './cluster.js';

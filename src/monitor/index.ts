export { ServingMetrics } from './metrics.js';

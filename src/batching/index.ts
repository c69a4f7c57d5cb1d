export { DynamicBatcher } from './dynamic-batcher.js';
export type { BatchObserver, BatchResult, BatchRunner, DynamicBatcherOptions } from './dynamic-batcher.js';

/**
 * `berth perf`: a load generator for one deployment over REST (JSON or binary tensors) and gRPC,
 * reporting throughput, client-side latency percentiles and the server's own timings per
 * concurrency level. docs/perf.md is the user's page.
 */
export { CLIENT_CPU_WARNING_PERCENT, DEFAULT_CONCURRENCY, PERF_PROTOCOLS, resolveGrpcUrl, runPerf, type ErrorTally, type PerfLevel, type PerfOptions, type PerfProtocol, type PerfReport } from './driver.js';
export { formatPerfDuration, parsePerfDuration } from './duration.js';
export { LatencyHistogram, type LatencySummary } from './histogram.js';
export { isBatchable, parseInputData, parseShapeOverrides, readInputData, synthesizeInputs, type RequestInput, type RequestInputs, type SynthesisOptions } from './inputs.js';
export { renderPerfReport } from './render.js';
export { diffStatistics, totalStatistics, type ServerFigures, type StatisticsTotals } from './server-stats.js';

/**
 * Monitoring: Prometheus metrics of serving, the inference log, reference profiles, drift, data
 * quality, performance, fairness, reports and alerts. Serving never imports it: it observes.
 */
export { ServingMetrics } from './metrics.js';
export * from './schema.js';
export { parseFeedback, normaliseLabel, RegistryFeedbackStore, type FeedbackStore, type FeedbackItem, type StoredFeedback } from './feedback.js';
export {
  InferenceLog,
  inferenceLogDir,
  deploymentDir,
  hourPartition,
  removeHoursBefore,
  retentionCutoff,
  type InferenceLogOptions,
  type InferenceLogStats,
} from './inference-log/inference-log.js';
export { readInferenceLog, listLogFiles, hourInRange, takeRows, type LogWindow, type LogFile, type LogReadInfo } from './inference-log/reader.js';
export { LogMirror, LogShipper, type LogMirrorOptions, type LogShipperOptions, type ShipResult } from './inference-log/shipping.js';
export * from './inference-log/segment.js';
export { RateSampler } from './inference-log/sampler.js';
export {
  MonitorService,
  readReferenceFile,
  parseStoredReference,
  storedReferenceText,
  REFERENCE_FORMAT,
  type MonitorServiceOptions,
  type FeedbackResult,
  type PredictorFactory,
  type ProfileResult,
  type ReportRequest,
  type StoredReference,
} from './monitor-service.js';
export { buildReferenceProfile, cellText, tableToInputs, type PredictFn, type ReferenceProfileOptions, type ReferenceProfileResult } from './reference.js';
export { computeDrift, DEFAULT_DRIFT_OPTIONS, DRIFT_PRESETS, type DriftOptions, type DriftPreset, type DriftReport, type ColumnDrift, type DriftColumnSpec, type DriftReference } from './drift.js';
export { analyzeQuality, DEFAULT_QUALITY_OPTIONS, type QualityReport, type QualityOptions, type ColumnQuality, type QualityColumnReference } from './quality.js';
export * from './performance.js';
export * from './fairness.js';
export { buildReport, REPORT_FORMAT, type MonitorReport, type ReportExplanations, type ReportInput, type PerformanceSection, type LatencySection } from './report.js';
export { buildTimeline, loggedRequests, referenceView, type LoggedRequest, type LoggedValue, type MonitorTimeline, type ReferenceColumnView, type ReferenceHistogram, type ReferenceView, type TimelineBucket, type TimelineCell, type TimelineColumn } from './views.js';
export { parseWindow, type ResolvedWindow } from './window.js';
export { onnxPredictor } from './onnx-predictor.js';
export { renderContributionChart, renderReportHtml, type ContributionBar } from './report-html.js';
export { TrafficHistory, TRAFFIC_BUCKET_MS, type TrafficPoint, type TrafficSeries } from './traffic-history.js';
export { AlertManager, webhookHeaders, type AlertStatus, type AlertEvent, type AlertState, type AlertsOptions, type WebhookTarget } from './alerts/alerts.js';
export { parseAlertRule, metricValue, ALERT_METRICS, type AlertRule, type AlertRuleSpec, type AlertMetric } from './alerts/rules.js';
export { MonitorGauges } from './gauges.js';

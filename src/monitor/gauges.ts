/**
 * Prometheus gauges of what monitoring found in each deployment's recent traffic — drift share,
 * per-feature drift (PSI and a drifted flag), data-quality shares, realised and estimated accuracy —
 * so existing Grafana dashboards and Alertmanager rules pick them up. Refreshed from a report per
 * deployment every monitoring interval. With several serving processes every one computes the same
 * values from the shared log, so the cluster aggregates them with `max`, not a sum.
 */
import client from 'prom-client';
import type { MonitorReport } from './report.js';

export class MonitorGauges {
  private readonly driftShare: client.Gauge;
  private readonly featurePsi: client.Gauge;
  private readonly featureDrifted: client.Gauge;
  private readonly quality: client.Gauge;
  private readonly rejected: client.Gauge;
  private readonly accuracy: client.Gauge;
  private readonly estimated: client.Gauge;
  private readonly rmse: client.Gauge;
  private readonly rows: client.Gauge;
  /** per deployment, the series set last time (removed before the next update) */
  private readonly series = new Map<string, [client.Gauge, Record<string, string>][]>();

  constructor(registry: client.Registry) {
    const registers = [registry];
    const gauge = (name: string, help: string, labelNames: string[]): client.Gauge =>
      new client.Gauge({ name, help, labelNames, registers, aggregator: 'max' });
    this.driftShare = gauge('berth_drift_share', 'Share of features that drifted against the reference in the monitoring window (0..1).', ['deployment']);
    this.featurePsi = gauge('berth_feature_drift_psi', 'Population stability index of each feature (and prediction) against the reference.', ['deployment', 'feature']);
    this.featureDrifted = gauge('berth_feature_drifted', '1 when the feature drifted in the monitoring window, else 0.', ['deployment', 'feature']);
    this.quality = gauge('berth_data_quality_share', 'Share of rows with a data-quality problem, per feature and check (missing_values, out_of_range, unknown_category, type_error).', ['deployment', 'feature', 'check']);
    this.rejected = gauge('berth_rejected_share', 'Share of requests refused by validation in the monitoring window.', ['deployment']);
    this.accuracy = gauge('berth_accuracy', 'Realised accuracy of labelled rows in the monitoring window (classifiers).', ['deployment']);
    this.estimated = gauge('berth_estimated_accuracy', "Accuracy estimated from the model's confidence, before labels (classifiers).", ['deployment']);
    this.rmse = gauge('berth_rmse', 'Realised RMSE of labelled rows in the monitoring window (regressors).', ['deployment']);
    this.rows = gauge('berth_monitor_window_rows', 'Rows of traffic in the monitoring window.', ['deployment']);
  }

  update(r: MonitorReport): void {
    const d = r.deployment;
    // a feature or metric that went away must not keep its old value
    for (const [g, labels] of this.series.get(d) ?? []) g.remove(labels);
    const set: [client.Gauge, Record<string, string>][] = [];
    this.series.set(d, set);
    const put = (g: client.Gauge, labels: Record<string, string>, v: number): void => {
      g.set(labels, v);
      set.push([g, labels]);
    };
    put(this.rows, { deployment: d }, r.window.rows);
    if (r.drift && r.drift.evaluatedColumns > 0) put(this.driftShare, { deployment: d }, r.drift.driftShare);
    for (const c of [...(r.drift?.columns ?? []), ...(r.drift?.predictions ?? [])]) {
      if (c.psi !== null && Number.isFinite(c.psi)) put(this.featurePsi, { deployment: d, feature: c.column }, c.psi);
      if (c.verdict === 'drift' || c.verdict === 'no_drift') put(this.featureDrifted, { deployment: d, feature: c.column }, c.drifted ? 1 : 0);
    }
    if (r.window.rows > 0) {
      for (const c of r.quality.columns) {
        put(this.quality, { deployment: d, feature: c.name, check: 'missing_values' }, c.missing.share);
        if (c.outOfRange) put(this.quality, { deployment: d, feature: c.name, check: 'out_of_range' }, c.outOfRange.share);
        if (c.unknownCategories) put(this.quality, { deployment: d, feature: c.name, check: 'unknown_category' }, c.unknownCategories.share);
        if (c.typeErrors) put(this.quality, { deployment: d, feature: c.name, check: 'type_error' }, c.typeErrors.share);
      }
      put(this.rejected, { deployment: d }, r.quality.rejected.share);
    }
    const perf = r.performance;
    if (perf.classification) put(this.accuracy, { deployment: d }, perf.classification.accuracy);
    if (perf.estimatedAccuracy !== null) put(this.estimated, { deployment: d }, perf.estimatedAccuracy);
    if (perf.regression) put(this.rmse, { deployment: d }, perf.regression.rmse);
  }
}

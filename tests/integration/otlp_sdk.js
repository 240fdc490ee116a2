// otlp_sdk.js - records inference metrics with the real OpenTelemetry
// JavaScript SDK and exports them to rampd's /otlp/v1/metrics, the way an
// instrumented inference service would (tests/integration/test_otlp.py).
//
//   NODE_PATH=build/npm/node_modules node otlp_sdk.js '<config json>'
//
// config: {url, model, rounds, interval_ms, temporality: "cumulative"|"delta",
//          devices: [{id, token, version, encoding: "proto"|"json", gzip,
//                     latency_ms, error_rate, requests}]}
// or devices_file instead of devices: the script prints "ready" once loaded,
// then waits for that file to appear and reads the devices from it.
// Each device is one MeterProvider (its resource names the device and the
// model version), with its own exporter; every round records `requests`
// inferences per device, then flushes every provider. Prints one JSON line
// per round ({"round": i, "requests": {...}, "errors": {...}}); exits 1 on
// the first failed export, printing why.
'use strict';
const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const proto = require('@opentelemetry/exporter-metrics-otlp-proto');
const json = require('@opentelemetry/exporter-metrics-otlp-http');

const cfg = JSON.parse(process.argv[2]);
const failures = [];

function device(dev) {
  const mod = dev.encoding === 'proto' ? proto : json;
  const exporter = new mod.OTLPMetricExporter({
    url: cfg.url + '/otlp/v1/metrics',
    headers: { Authorization: 'Bearer ' + dev.token },
    compression: dev.gzip ? 'gzip' : 'none',
    temporalityPreference: cfg.temporality === 'delta'
      ? json.AggregationTemporalityPreference.DELTA
      : json.AggregationTemporalityPreference.CUMULATIVE,
  });
  // the reader reports a failed export to the global error handler only:
  // the wrapper keeps it, so that the script can fail
  const wrapped = {
    export: (metrics, cb) => exporter.export(metrics, (res) => {
      if (res.code !== 0) failures.push(dev.id + ': ' + (res.error ? res.error.message : res.code));
      cb(res);
    }),
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown(),
    selectAggregationTemporality: (k) => exporter.selectAggregationTemporality(k),
  };
  if (exporter.selectAggregation) wrapped.selectAggregation = (k) => exporter.selectAggregation(k);
  const reader = new PeriodicExportingMetricReader({ exporter: wrapped, exportIntervalMillis: 3600000 });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({
      'service.name': 'inference',
      'device.id': dev.id,
      'ramp.model.name': cfg.model,
      'ramp.model.version': dev.version,
    }),
    readers: [reader],
  });
  const meter = provider.getMeter('ramp-otlp-test', '1.0.0');
  const m = {
    duration: meter.createHistogram('ramp.inference.duration', { unit: 'ms' }),
    requests: meter.createCounter('ramp.inference.requests'),
    errors: meter.createCounter('ramp.inference.errors'),
    confidence: meter.createHistogram('ramp.inference.confidence', {
      advice: { explicitBucketBoundaries: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] },
    }),
  };
  meter.createObservableGauge('system.cpu.utilization', { unit: '1' })
    .addCallback((r) => r.observe(0.35));
  meter.createObservableGauge('ramp.device.temperature', { unit: 'Cel' })
    .addCallback((r) => r.observe(48.5));
  meter.createObservableGauge('process.uptime', { unit: 's' })
    .addCallback((r) => r.observe(12)); // not ramp's: counted and ignored
  return { dev, provider, m, requests: 0, errors: 0 };
}

function record(d) {
  const n = d.dev.requests;
  const bad = Math.round(n * d.dev.error_rate);
  for (let i = 0; i < n; i++) {
    // spread around latency_ms: 0.8x .. 1.2x
    d.m.duration.record(d.dev.latency_ms * (0.8 + (0.4 * i) / Math.max(1, n - 1)));
    d.m.requests.add(1);
    d.m.confidence.record(0.85);
    if (i < bad) d.m.errors.add(1);
  }
  d.requests += n;
  d.errors += bad;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  if (cfg.devices_file) {
    // loaded and ready: the test hands over the devices once it knows them
    // (a busy machine may take many seconds to load the SDK's modules)
    console.log('ready');
    const fs = require('fs');
    while (!fs.existsSync(cfg.devices_file)) await sleep(20);
    cfg.devices = JSON.parse(fs.readFileSync(cfg.devices_file, 'utf8'));
  }
  const devices = cfg.devices.map(device);
  for (let round = 0; round < cfg.rounds; round++) {
    devices.forEach(record);
    await Promise.all(devices.map((d) => d.provider.forceFlush()));
    if (failures.length) throw new Error(failures.join('; '));
    const out = { round, requests: {}, errors: {} };
    for (const d of devices) {
      out.requests[d.dev.id] = d.requests;
      out.errors[d.dev.id] = d.errors;
    }
    console.log(JSON.stringify(out));
    if (round + 1 < cfg.rounds) await sleep(cfg.interval_ms || 0);
  }
  await Promise.all(devices.map((d) => d.provider.shutdown()));
}

main().catch((e) => {
  console.error('export failed: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});

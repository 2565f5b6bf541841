// The LLM tab's charts: what each one draws, from the per-second rows `llm/live` returns.

const LATENCY_COLORS = ['#ff9f00', '#9966CC', '#00b8d4', '#e91e63'];

/** Latencies exist only in seconds where requests ended: the line joins them. */
const joined = { connectNulls: true };

const formatValue = value => {
  const number = Array.isArray(value) ? value[1] : value;
  return number === null || number === undefined ? 'n/a' : Math.round(number * 100) / 100;
};

/** Values of a row that count events in a second: a second without a row had none (0). */
const RATES = new Set(['requests', 'failures', 'output_tokens', 'images', 'request_mb', 'in_flight']);

export function chartSpecs({ images, tpot }) {
  const specs = [
    {
      title: 'Time to first token (ms)',
      lines: [
        { name: 'TTFT p50', key: 'ttft_p50_ms', ...joined },
        { name: 'TTFT p95', key: 'ttft_p95_ms', ...joined },
      ],
      colors: LATENCY_COLORS,
    },
    {
      title: tpot ? 'Inter-token latency and TPOT (ms)' : 'Inter-token latency (ms)',
      lines: [
        { name: 'ITL p50', key: 'itl_p50_ms', ...joined },
        { name: 'ITL p95', key: 'itl_p95_ms', ...joined },
        ...(tpot
          ? [
              { name: 'TPOT p50', key: 'tpot_p50_ms', ...joined },
              { name: 'TPOT p95', key: 'tpot_p95_ms', ...joined },
            ]
          : []),
      ],
      colors: LATENCY_COLORS,
    },
    {
      title: 'Output tokens per second',
      lines: [{ name: 'Output tokens/s', key: 'output_tokens' }],
      colors: ['#0099ff'],
    },
    {
      title: 'Requests per second',
      lines: [
        { name: 'Requests/s', key: 'requests' },
        { name: 'Failures/s', key: 'failures' },
      ],
      colors: ['#00ca5a', '#ff6d6d'],
    },
    {
      title: 'Requests in flight',
      lines: [{ name: 'In flight', key: 'in_flight' }],
      colors: ['#8A2BE2'],
    },
  ];
  if (images) {
    specs.push(
      {
        title: 'Images per second',
        lines: [{ name: 'Images/s', key: 'images' }],
        colors: ['#00ca5a'],
      },
      {
        title: 'Request bytes per second (MB/s)',
        lines: [{ name: 'Request MB/s', key: 'request_mb' }],
        colors: ['#0099ff'],
      },
    );
  }
  return specs.map(spec => ({ ...spec, chartValueFormatter: formatValue }));
}

/**
 * Locust's time axis, with labels that give way rather than overlap: Locust's charts span the
 * page, these take half of it.
 */
export function timeAxis(charts) {
  return {
    type: 'time',
    min: charts.time[0],
    splitNumber: 5,
    minInterval: 1,
    axisLabel: { formatter: value => new Date(value).toLocaleTimeString(), hideOverlap: true },
  };
}

/**
 * Locust's LineChart data ({time: [iso], key: [[iso, value]]}) for every second from the
 * first row to the last complete one (`completeUntil`, exclusive; every row once the run is
 * final); null when there is nothing to draw yet.
 *
 * A request's output tokens are counted, in the seconds they arrived, when the request ends:
 * while the run goes on, the last seconds still miss the tokens of requests in flight, so the
 * tokens line stops `longestSeconds` (the longest request so far) before the others.
 */
export function chartData(rows, { completeUntil, final, longestSeconds = 0, stepSeconds = 1 }) {
  const shown = final ? rows : rows.filter(row => row.t < completeUntil);
  if (!shown.length) {
    return null;
  }
  const tokensUntil = final ? Infinity : completeUntil - Math.ceil(longestSeconds);
  const keys = [...RATES, 'ttft_p50_ms', 'ttft_p95_ms', 'itl_p50_ms', 'itl_p95_ms', 'tpot_p50_ms', 'tpot_p95_ms'];
  const charts = Object.fromEntries(keys.map(key => [key, []]));
  charts.time = [];
  const byTime = new Map(shown.map(row => [row.t, row]));
  const first = shown[0].t;
  const last = shown[shown.length - 1].t;
  for (let t = first; t <= last; t += stepSeconds) {
    const row = byTime.get(t);
    const time = new Date(t * 1000).toISOString();
    charts.time.push(time);
    for (const key of keys) {
      const provisional = key === 'output_tokens' && t >= tokensUntil;
      charts[key].push([time, provisional ? null : valueOf(row, key, stepSeconds)]);
    }
  }
  return charts;
}

function valueOf(row, key, stepSeconds) {
  if (!row) {
    return RATES.has(key) ? 0 : null;
  }
  if (key === 'request_mb') {
    return row.request_bytes / 1e6 / stepSeconds;
  }
  const value = row[key];
  if (value === undefined || value === null) {
    return RATES.has(key) ? 0 : null;
  }
  return key === 'in_flight' || !RATES.has(key) ? value : value / stepSeconds;
}

/** The rows after merging a poll: kept up to `since`, the poll's after it. */
export function mergeRows(previous, fresh, since) {
  if (since === null || since === undefined) {
    return fresh;
  }
  return [...previous.filter(row => row.t <= since), ...fresh];
}

/**
 * The server's gauges (`--server-metrics`) as Locust's LineChart data: requests running and
 * waiting, KV-cache usage in %, at the server's own scrape times; null without any.
 */
export function serverChartData(server) {
  if (!server || !server.available || !Object.keys(server.series).length) {
    return null;
  }
  const times = [...new Set(Object.values(server.series).flatMap(points => points.map(([t]) => t)))].sort(
    (a, b) => a - b,
  );
  const charts = { time: times.map(t => new Date(t * 1000).toISOString()) };
  for (const [name, points] of Object.entries(server.series)) {
    const scale = name === 'kv_cache_usage' ? 100 : 1;
    charts[name] = points.map(([t, value]) => [new Date(t * 1000).toISOString(), value * scale]);
  }
  return charts;
}

export const SERVER_SPECS = [
  {
    title: 'Server: requests running and waiting',
    lines: [
      { name: 'Running', key: 'running' },
      { name: 'Waiting', key: 'waiting' },
    ],
    colors: ['#8A2BE2', '#ff9f00'],
    chartValueFormatter: formatValue,
  },
  {
    title: 'Server: KV-cache usage (%)',
    lines: [{ name: 'KV cache %', key: 'kv_cache_usage' }],
    colors: ['#00b8d4'],
    chartValueFormatter: formatValue,
  },
];

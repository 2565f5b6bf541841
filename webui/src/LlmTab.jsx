// The LLM tab: the run's exact figures per traffic class, and per-second charts, kept live.
import { useCallback, useRef, useState } from 'react';
import { Box, ToggleButton, ToggleButtonGroup, Typography } from '@mui/material';
import { useSelector } from 'react-redux';
import { LineChart, useInterval } from 'locust-ui';

import { CountsTable, FailuresTable, LatencyTable, serverSideShown, summaryRows } from './LlmTable.jsx';
import { SERVER_SPECS, chartData, chartSpecs, mergeRows, serverChartData, timeAxis } from './series.js';

const POLL_MS = 2000;
const RUNNING = ['spawning', 'running', 'stopping', 'cleanup'];
const RESEND_SECONDS = 20;
/** Seconds asked for again at each poll: the server's slots settle after 15 s. */

const ALL = 'all';

function merge(previous, data) {
  const { series } = data;
  const fresh = { all: series.all, per_class: series.per_class };
  if (!previous || previous.view !== data.view) {
    return { ...data, rows: fresh };
  }
  const names = new Set([...Object.keys(previous.rows.per_class), ...Object.keys(fresh.per_class)]);
  const perClass = Object.fromEntries(
    [...names].map(name => [
      name,
      mergeRows(previous.rows.per_class[name] || [], fresh.per_class[name] || [], series.since),
    ]),
  );
  return { ...data, rows: { all: mergeRows(previous.rows.all, fresh.all, series.since), per_class: perClass } };
}

function lastSecond(live) {
  const rows = live && live.rows.all;
  return rows && rows.length ? rows[rows.length - 1].t : null;
}

/** `llm/live`, polled while a run goes on and until its final summary has come. */
function useLlmLive(swarmState) {
  const [live, setLive] = useState(null);
  const latest = useRef(null);
  const busy = useRef(false);

  const poll = useCallback(async () => {
    if (busy.current) {
      return;
    }
    busy.current = true;
    try {
      const last = lastSecond(latest.current);
      const response = await fetch(last === null ? './llm/live' : `./llm/live?since=${last - RESEND_SECONDS}`);
      if (response.ok) {
        latest.current = merge(latest.current, await response.json());
        setLive(latest.current);
      }
    } finally {
      busy.current = false;
    }
  }, []);

  const shouldPoll = RUNNING.includes(swarmState) || !(live && live.final);
  useInterval(poll, POLL_MS, { shouldRunInterval: shouldPoll, immediate: true });
  return live;
}

function ClassPicker({ classes, selected, onChange }) {
  return (
    <ToggleButtonGroup
      aria-label='Traffic class of the charts'
      exclusive
      onChange={(_, value) => value && onChange(value)}
      size='small'
      value={selected}
    >
      <ToggleButton sx={{ textTransform: 'none' }} value={ALL}>
        All classes
      </ToggleButton>
      {classes.map(name => (
        <ToggleButton key={name} sx={{ textTransform: 'none' }} value={name}>
          {name}
        </ToggleButton>
      ))}
    </ToggleButtonGroup>
  );
}

function Charts({ live, selected, isDarkMode }) {
  const rows = selected === ALL ? live.rows.all : live.rows.per_class[selected] || [];
  const figures = selected === ALL ? live.summary : live.summary.per_class[selected] || {};
  const charts = chartData(rows, {
    completeUntil: live.complete_until,
    final: live.final,
    longestSeconds: (figures.max_e2el_ms || 0) / 1000,
    stepSeconds: live.series.step_s,
  });
  if (!charts) {
    return (
      <Typography color='text.secondary' sx={{ py: 4 }}>
        The charts start with the first second of requests.
      </Typography>
    );
  }
  const images = Object.entries(live.classes).some(
    ([name, info]) => info.images && (selected === ALL || selected === name),
  );
  const tpot = rows.some(row => row.tpot_p50_ms !== undefined);
  const specs = chartSpecs({ images, tpot });
  return (
    <Box
      data-seconds={charts.time.length}
      data-testid='llm-charts'
      // minmax(0, 1fr): a chart's canvas, sized in pixels, never widens its column
      sx={{ display: 'grid', gap: 2, gridTemplateColumns: { xs: 'minmax(0, 1fr)', lg: 'repeat(2, minmax(0, 1fr))' } }}
    >
      {specs.map((spec, index) => (
        // remounted for each run (or Reset) and class: Locust's chart fixes its time axis' start at mount
        <Box
          data-chart={spec.title}
          key={`${live.view}-${selected}-${spec.title}`}
          // an odd last chart takes the whole row
          sx={index === specs.length - 1 && specs.length % 2 ? { gridColumn: '1 / -1' } : undefined}
        >
          <LineChart {...spec} charts={charts} isDarkMode={isDarkMode} xAxis={timeAxis(charts)} />
        </Box>
      ))}
    </Box>
  );
}

/** The server's own gauges (`--server-metrics`), beside the client's charts. */
function ServerCharts({ live, isDarkMode }) {
  const { server } = live;
  if (!server) {
    return null;
  }
  if (!server.available) {
    return (
      <Typography color='text.secondary' data-testid='llm-server-unavailable'>
        Server metrics not available: {server.reason}
      </Typography>
    );
  }
  const charts = serverChartData(server);
  if (!charts) {
    return <Typography color='text.secondary'>The server's metrics start with its first scrape.</Typography>;
  }
  const specs = SERVER_SPECS.filter(spec => spec.lines.some(line => charts[line.key]));
  return (
    <Box
      data-testid='llm-server-charts'
      sx={{ display: 'grid', gap: 2, gridTemplateColumns: { xs: 'minmax(0, 1fr)', lg: 'repeat(2, minmax(0, 1fr))' } }}
    >
      {specs.map(spec => (
        <Box data-chart={spec.title} key={`${live.view}-${spec.title}`}>
          <LineChart {...spec} charts={charts} isDarkMode={isDarkMode} xAxis={timeAxis(charts)} />
        </Box>
      ))}
    </Box>
  );
}

/** The heading over the TTFO and server-timing rows: what they hold. */
function serverSideTitle(figures) {
  const ttfo = figures.some(([key]) => key === 'ttfo');
  if (figures.length === 1 && ttfo) {
    return 'Time to first answer token';
  }
  return ttfo ? 'Time to first answer token and server timings' : 'Server timings';
}

function Heading({ children }) {
  return (
    <Typography component='h2' sx={{ mb: 1, mt: 3 }} variant='h6'>
      {children}
    </Typography>
  );
}

export default function LlmTab() {
  const swarmState = useSelector(({ swarm }) => swarm.state);
  const isDarkMode = useSelector(({ theme }) => theme.isDarkMode);
  const live = useLlmLive(swarmState);
  const [selected, setSelected] = useState(ALL);

  if (!live) {
    return <Typography color='text.secondary'>Loading the LLM figures…</Typography>;
  }
  const classes = Object.keys(live.summary.per_class || {});
  const rows = summaryRows(live.summary);
  const shown = selected === ALL || classes.includes(selected) ? selected : ALL;
  const serverSide = serverSideShown(rows);
  return (
    <Box data-final={live.final ? 'true' : 'false'} data-run={live.run} data-testid='llm-tab' sx={{ pb: 4 }}>
      <Typography color='text.secondary' variant='body2'>
        {live.final
          ? `Run ${live.run}, finished: its LLM summary.`
          : `Run ${live.run}, live (every ${POLL_MS / 1000} s): the figures its LLM summary will hold.`}
      </Typography>
      <Heading>Latency</Heading>
      {rows.length ? <LatencyTable rows={rows} /> : <Typography color='text.secondary'>No request yet.</Typography>}
      {serverSide.length > 0 && (
        <>
          <Heading>{serverSideTitle(serverSide)}</Heading>
          <LatencyTable label='LLM answer and server timings' latencies={serverSide} rows={rows} />
        </>
      )}
      <Heading>Requests and tokens</Heading>
      {rows.length ? <CountsTable rows={rows} /> : <Typography color='text.secondary'>No request yet.</Typography>}
      {Object.keys(live.summary.failures || {}).length > 0 && (
        <>
          <Heading>Failures</Heading>
          <FailuresTable failures={live.summary.failures} />
        </>
      )}
      <Box sx={{ alignItems: 'center', display: 'flex', flexWrap: 'wrap', gap: 2, mb: 1, mt: 3 }}>
        <Typography component='h2' variant='h6'>
          Per second
        </Typography>
        {classes.length > 1 && <ClassPicker classes={classes} onChange={setSelected} selected={shown} />}
      </Box>
      <Charts isDarkMode={isDarkMode} live={live} selected={shown} />
      {live.server && <Heading>Server metrics</Heading>}
      <ServerCharts isDarkMode={isDarkMode} live={live} />
    </Box>
  );
}

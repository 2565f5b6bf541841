// The LLM tab's tables: the summary's exact figures, one row per traffic class.
import {
  Paper,
  Table,
  TableBody,
  TableCell,
  TableContainer,
  TableHead,
  TableRow,
  Typography,
} from '@mui/material';

const LATENCIES = [
  ['ttft', 'TTFT'],
  ['tpot', 'TPOT'],
  ['itl', 'ITL'],
  ['e2el', 'E2E'],
];
/**
 * Shown only when the run has them, as the console table and the HTML report show them: TTFO (the
 * first answer token, after any reasoning) when reasoning arrived, and the server's own timings
 * (MindIE's prefill_time and decode_time_arr) when a server sent them.
 */
const SERVER_SIDE = [
  ['ttfo', 'TTFO'],
  ['server_prefill', 'Server prefill'],
  ['server_itl', 'Server ITL'],
  ['ttft_minus_server_prefill', 'TTFT − server prefill'],
];
const STATS = [
  ['mean', 'Mean'],
  ['p50', 'p50'],
  ['p90', 'p90'],
  ['p99', 'p99'],
];
const COUNTS = [
  { key: 'completed', title: 'Requests' },
  { key: 'failed', title: 'Failed' },
  { key: 'request_throughput', title: 'Requests/s', digits: 2 },
  { key: 'total_input_tokens', title: 'Input tokens' },
  { key: 'total_output_tokens', title: 'Output tokens' },
  { key: 'total_reasoning_tokens', title: 'Reasoning tokens', reasoning: true },
  { key: 'output_throughput', title: 'Output tokens/s', digits: 2 },
  { key: 'duration', title: 'Duration (s)', digits: 1 },
];

const reasoned = rows => rows.some(row => row.figures.total_reasoning_tokens);

/** Of SERVER_SIDE, the figures these rows have samples of (TTFO only when reasoning arrived). */
export function serverSideShown(rows) {
  return SERVER_SIDE.filter(
    ([key]) => rows.some(row => row.figures[`count_${key}`]) && (key !== 'ttfo' || reasoned(rows)),
  );
}

const number = (value, digits = 0) =>
  value === null || value === undefined
    ? 'n/a'
    : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The classes of a summary as rows, with "All" last when there are several (Locust's Aggregated). */
export function summaryRows(summary) {
  const perClass = Object.entries(summary.per_class || {}).map(([name, figures]) => ({ name, figures }));
  return perClass.length === 1 ? perClass : [...perClass, { name: 'All', figures: summary, total: true }];
}

const cellSx = { fontVariantNumeric: 'tabular-nums', whiteSpace: 'nowrap' };
const groupStart = { borderLeft: 1, borderLeftColor: 'divider' };

function ClassCell({ row }) {
  return (
    <TableCell component='th' scope='row' sx={{ fontWeight: row.total ? 'bold' : undefined }}>
      {row.name}
    </TableCell>
  );
}

export function LatencyTable({ rows, latencies = LATENCIES, label = 'LLM latencies' }) {
  return (
    <TableContainer component={Paper}>
      <Table aria-label={label} size='small'>
        <TableHead>
          <TableRow>
            <TableCell rowSpan={2}>Class</TableCell>
            {latencies.map(([key, title]) => (
              <TableCell align='center' colSpan={STATS.length} key={key} sx={groupStart}>
                {title} (ms)
              </TableCell>
            ))}
          </TableRow>
          <TableRow>
            {latencies.flatMap(([key]) =>
              STATS.map(([stat, label], index) => (
                <TableCell align='right' key={`${key}-${stat}`} sx={index === 0 ? groupStart : undefined}>
                  {label}
                </TableCell>
              )),
            )}
          </TableRow>
        </TableHead>
        <TableBody>
          {rows.map(row => (
            <TableRow data-class={row.name} key={row.name}>
              <ClassCell row={row} />
              {latencies.flatMap(([key]) =>
                STATS.map(([stat], index) => (
                  <TableCell
                    align='right'
                    data-key={`${stat}_${key}_ms`}
                    key={`${key}-${stat}`}
                    sx={{ ...cellSx, ...(index === 0 ? groupStart : {}) }}
                  >
                    {number(row.figures[`${stat}_${key}_ms`], 2)}
                  </TableCell>
                )),
              )}
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </TableContainer>
  );
}

export function CountsTable({ rows }) {
  const counts = reasoned(rows) ? COUNTS : COUNTS.filter(count => !count.reasoning);
  return (
    <TableContainer component={Paper}>
      <Table aria-label='LLM requests and tokens' size='small'>
        <TableHead>
          <TableRow>
            <TableCell>Class</TableCell>
            {counts.map(({ key, title }) => (
              <TableCell align='right' key={key}>
                {title}
              </TableCell>
            ))}
          </TableRow>
        </TableHead>
        <TableBody>
          {rows.map(row => (
            <TableRow data-class={row.name} key={row.name}>
              <ClassCell row={row} />
              {counts.map(({ key, digits }) => (
                <TableCell align='right' data-key={key} key={key} sx={cellSx}>
                  {number(row.figures[key], digits)}
                </TableCell>
              ))}
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </TableContainer>
  );
}

export function FailuresTable({ failures }) {
  const entries = Object.entries(failures || {});
  if (!entries.length) {
    return null;
  }
  return (
    <TableContainer component={Paper}>
      <Table aria-label='LLM failures' size='small'>
        <TableHead>
          <TableRow>
            <TableCell align='right' sx={{ width: '8em' }}>
              # Failures
            </TableCell>
            <TableCell>Reason</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {entries.map(([reason, count]) => (
            <TableRow key={reason}>
              <TableCell align='right' sx={cellSx}>
                {number(count)}
              </TableCell>
              <TableCell>
                <Typography sx={{ fontFamily: 'monospace', fontSize: '0.85em' }}>{reason}</Typography>
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </TableContainer>
  );
}

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
  { key: 'output_throughput', title: 'Output tokens/s', digits: 2 },
  { key: 'duration', title: 'Duration (s)', digits: 1 },
];

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

export function LatencyTable({ rows }) {
  return (
    <TableContainer component={Paper}>
      <Table aria-label='LLM latencies' size='small'>
        <TableHead>
          <TableRow>
            <TableCell rowSpan={2}>Class</TableCell>
            {LATENCIES.map(([key, label]) => (
              <TableCell align='center' colSpan={STATS.length} key={key} sx={groupStart}>
                {label} (ms)
              </TableCell>
            ))}
          </TableRow>
          <TableRow>
            {LATENCIES.flatMap(([key]) =>
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
              {LATENCIES.flatMap(([key]) =>
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
  return (
    <TableContainer component={Paper}>
      <Table aria-label='LLM requests and tokens' size='small'>
        <TableHead>
          <TableRow>
            <TableCell>Class</TableCell>
            {COUNTS.map(({ key, title }) => (
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
              {COUNTS.map(({ key, digits }) => (
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

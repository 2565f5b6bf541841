// Locust's Failures tab as Locust 2.47 shows it: with when each failure was first and last seen
// (the 2.43 UI of the locust-ui package predates those columns; see compat.js).
import { Table } from 'locust-ui';
import { useSelector } from 'react-redux';

const structure = [
  { key: 'occurrences', title: '# Failures' },
  { key: 'method', title: 'Method' },
  { key: 'name', title: 'Name' },
  { key: 'error', title: 'Message' },
  { key: 'firstSeen', title: 'First Seen' },
  { key: 'lastSeen', title: 'Last Seen' },
];

const formatTimestamp = unixSeconds => (unixSeconds ? new Date(unixSeconds * 1000).toLocaleString() : '');

export default function FailuresTab() {
  const errors = useSelector(({ ui }) => ui.errors);
  const rows = errors.map(error => ({
    ...error,
    firstSeen: formatTimestamp(error.firstSeen),
    lastSeen: formatTimestamp(error.lastSeen),
  }));
  return <Table rows={rows} structure={structure} />;
}

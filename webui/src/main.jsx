// Locust's web UI (the locust-ui package) with an LLM tab after Charts.
import { createRoot } from 'react-dom/client';
import LocustUi, { locustStore, tabConfig } from 'locust-ui';

import { followTransitions, installCompat } from './compat.js';
import FailuresTab from './FailuresTab.jsx';
import LlmTab from './LlmTab.jsx';

installCompat();
followTransitions(locustStore);

const templateArgs = window.templateArgs || {};

const tabs = [
  tabConfig.stats,
  tabConfig.charts,
  { key: 'llm', title: 'LLM', component: LlmTab },
  { ...tabConfig.failures, component: FailuresTab },
  tabConfig.exceptions,
  tabConfig.ratios,
  tabConfig.reports,
  tabConfig.logs,
  tabConfig.workers,
  // tabs a locustfile adds through Locust's extended_tabs still show (as tables)
  ...(templateArgs.extended_tabs || []),
];

createRoot(document.getElementById('root')).render(
  // LocustUi replaces the page's extended tables and Download Data links with these props
  <LocustUi
    extendedReports={templateArgs.extended_csv_files || []}
    extendedTables={templateArgs.extended_tables || []}
    tabs={tabs}
  />,
);

// locust-ui 2.43.4 (the newest on npm) against Locust 2.47's server: what changed between them.
//
// 1. `stop` and `stats/reset` take POST since Locust 2.47 (a GET answers 405); the 2.43 UI
//    sends GET, so its Stop and Reset buttons would do nothing. This page sends them as POST.
// 2. The 2.43 UI shows `total_rps` and `total_fail_per_sec` of `stats/requests` in its header
//    (RPS) and its "Total Requests per Second" chart. Since 2.45 the server also sends
//    `current_rps` and `current_fail_per_sec` (the last seconds), which Locust's own 2.47 UI
//    shows there, while `total_*` are averages since the start; this page hands the 2.43 UI
//    the current rates under the names it reads.
// 3. Failures carry `first_seen` and `last_seen` since 2.47: FailuresTab.jsx shows them.
// 4. The 2.43 UI polls `stats/requests` only while the run is spawning or running. A poll that
//    reads "stopping" or "cleanup" (a distributed Stop waits for every worker to drain, which
//    takes seconds) ends its polling, and the page stayed on "stopping" with neither Stop nor
//    New: followTransitions polls on through those states and hands the UI the one that follows.
// Nothing else of a request or a response changes, and nothing outside this page sees it.
// Drop this file when locust-ui on npm has caught up with the Locust in requirements.txt.

const TRANSITIONS = new Set(['stopping', 'cleanup']);
const FOLLOW_MS = 2000;
const POST_ONLY = /\/(stop|stats\/reset)$/;
const STATS = /\/stats\/requests$/;

export function currentRates(stats) {
  if (stats && typeof stats.current_rps === 'number') {
    return {
      ...stats,
      total_rps: stats.current_rps,
      total_fail_per_sec: stats.current_fail_per_sec ?? stats.total_fail_per_sec,
    };
  }
  return stats;
}

async function withCurrentRates(response) {
  const stats = currentRates(await response.json());
  return new Response(JSON.stringify(stats), {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

export function installCompat() {
  const browserFetch = window.fetch.bind(window);

  window.fetch = async (input, init) => {
    const request = new Request(input, init);
    const { pathname } = new URL(request.url, window.location.href);
    if (request.method === 'GET' && POST_ONLY.test(pathname)) {
      return browserFetch(request.url, { method: 'POST', credentials: request.credentials });
    }
    const response = await browserFetch(request);
    return response.ok && STATS.test(pathname) ? withCurrentRates(response) : response;
  };
}

// Locust's UI store is a Redux store; `swarm/setSwarm` is the action of its `swarm` slice
// (Redux Toolkit names an action after its slice and reducer), what its own poll dispatches.
export function followTransitions(store, poll = () => window.fetch('./stats/requests'), every = FOLLOW_MS) {
  let timer = null;
  const step = async () => {
    timer = null;
    try {
      const response = await poll();
      const { state } = await response.json();
      if (state && state !== store.getState().swarm.state) {
        store.dispatch({ type: 'swarm/setSwarm', payload: { state } });
      }
    } catch {
      // the next poll tries again
    } finally {
      watch();
    }
  };
  const watch = () => {
    if (timer === null && TRANSITIONS.has(store.getState().swarm.state)) {
      timer = setTimeout(step, every);
    }
  };
  store.subscribe(watch);
}

"""A run's scrapes -> the summary's ``server_metrics`` block, and that block beside the client's.

The block keeps every metric under its own name at its top level (``vllm:num_requests_running``
beside ``available``, ``url``, ``common`` and the other keys below, which no Prometheus metric
is named), so ``server_metrics["vllm:num_requests_running"]["max"]`` reads as it says.
"""

from __future__ import annotations

from servermetrics.names import LATENCIES, RATIOS, common_names
from servermetrics.parse import Scrape
from servermetrics.tracks import CounterTrack, GaugeTrack, HistogramTrack

Track = GaugeTrack | CounterTrack | HistogramTrack


class RunMetrics:
    """Every metric seen in one run's scrapes, each followed by its own track."""

    def __init__(self) -> None:
        self.tracks: dict[str, Track] = {}
        self.first_t: float | None = None
        self.last_t: float | None = None
        self.scrapes = 0

    def add(self, t: float, scrape: Scrape) -> None:
        """One successful scrape at time ``t`` (seconds); the run's first is the baseline."""
        since = self.last_t
        for name, values in scrape.gauges.items():
            self._track(name, GaugeTrack, average=name in RATIOS).add(t, values, since)
        for name, values in scrape.counters.items():
            self._track(name, CounterTrack).add(t, values, since)
        for name, buckets in scrape.histograms.items():
            self._track(name, HistogramTrack).add(t, buckets, since)
        if self.first_t is None:
            self.first_t = t
        self.last_t = t
        self.scrapes += 1

    def _track(self, name: str, kind: type, **kwargs) -> Track:
        track = self.tracks.get(name)
        if not isinstance(track, kind):  # new, or a name that changed type: follow the new one
            track = self.tracks[name] = kind(**kwargs)
        return track

    def block(self) -> dict:
        """The figures: ``server``, ``common``, ``derived`` and one entry per metric name."""
        server, common = common_names(self.tracks)
        out: dict = {"server": server, "common": common, "derived": self._derived(common)}
        out.update((name, track.block()) for name, track in sorted(self.tracks.items()))
        return out

    def latest(self) -> dict[str, float | None]:
        """Each gauge's last value and each counter's last per-second rate (histograms left out)."""
        return {name: track.latest for name, track in sorted(self.tracks.items())
                if not isinstance(track, HistogramTrack)}

    def _derived(self, common: dict[str, str]) -> dict:
        """Figures computed from two metrics: the prefix-cache hit rate of the run's tokens."""
        hits, queries = (self.tracks.get(common.get(n, "")) for n in ("prefix_cache_hits",
                                                                      "prefix_cache_queries"))
        if isinstance(hits, CounterTrack) and isinstance(queries, CounterTrack) and queries.increase > 0:
            return {"prefix_cache_hit_rate": hits.increase / queries.increase}
        return {}


def unavailable(url: str, reason: str, attempts: int) -> dict:
    """The block of a run whose server gave no metrics."""
    return {"available": False, "url": url, "reason": reason, "scrapes": 0, "failed_scrapes": attempts}


def beside_client(block: dict, client: dict) -> dict:
    """``block`` plus ``vs_client``: the server's latency percentiles (ms) next to the client
    summary's, and the tokens it counted over the run next to the client's. Its tokens per
    second are over the client's duration (first request to last): the scrapes span more (the
    first comes before any request, the last after the drain), which would dilute the rate.
    Returns ``block`` unchanged when it is unavailable."""
    if not block.get("available"):
        return block
    common = block.get("common", {})
    side: dict = {}
    for name, figure in LATENCIES.items():
        entry = block.get(common.get(name, ""))
        if entry and entry.get("type") == "histogram" and entry.get("count"):
            side[figure] = {
                "server_metric": common[name],
                "server": {s: _ms(entry[s]) for s in ("mean", "p50", "p90", "p99")},
                "client": {s: client.get(f"{s}_{figure}") for s in ("mean", "p50", "p90", "p99")},
            }
    duration = client.get("duration") or 0.0
    for name, figure, total in (("generation_tokens", "output_throughput", "total_output_tokens"),
                                ("prompt_tokens", "input_throughput", "total_input_tokens")):
        tokens = _tokens(block.get(common.get(name, "")))
        if tokens is not None:
            side[figure] = {"server_metric": common[name], "server": tokens / duration if duration else None,
                            "client": _client_rate(client, figure),
                            "server_tokens": tokens, "client_tokens": client.get(total)}
    return {**block, "vs_client": side}


def _ms(seconds: float | None) -> float | None:
    return seconds * 1000 if seconds is not None else None


def _tokens(entry: dict | None) -> float | None:
    """Tokens the run added: a counter's increase, or a per-request token histogram's ``sum``."""
    if not entry:
        return None
    return entry.get("increase") if entry.get("type") == "counter" else entry.get("sum")


def _client_rate(client: dict, figure: str) -> float | None:
    if figure in client:
        return client[figure]
    duration = client.get("duration")
    return client.get("total_input_tokens", 0) / duration if duration else None



def format_block(block: dict) -> str:
    """A few console lines: the common names' figures (gauges' max and mean, counters' rate,
    histograms' percentiles, in ms for latencies, beside the client's p50), or why there are none."""
    if not block.get("available"):
        return f"Server metrics: none ({block.get('reason')})"
    server = block.get("server") or "unknown server"
    lines = [f"Server metrics ({server}, {block['scrapes']} scrapes of {block['url']}):"]
    clients = {v.get("server_metric"): v.get("client") for v in block.get("vs_client", {}).values()}
    for common, name in block.get("common", {}).items():
        figures = _figures(name, block.get(name, {}), clients.get(name))
        if figures:
            lines.append(f"  {common:<22}{figures}  [{name}]")
    return "\n".join(lines)


def _figures(name: str, entry: dict, client: dict | None) -> str:
    kind = entry.get("type")
    if kind == "gauge" and entry.get("max") is not None:
        return f"max {entry['max']:g}, mean {entry['mean']:.3g}, last {entry['last']:g}"
    if kind == "counter" and entry.get("rate") is not None:
        return f"{entry['rate']:.4g}/s ({entry['increase']:g} in the run)"
    if kind != "histogram" or not entry.get("count"):
        return ""
    if not name.endswith(("_seconds", "_duration")):
        return ", ".join(f"{p} {entry[p]:.4g}" for p in ("p50", "p90", "p99"))
    figures = ", ".join(f"{p} {_ms(entry[p]):.1f} ms" for p in ("p50", "p90", "p99"))
    if client and client.get("p50") is not None:
        figures += f" (client p50 {client['p50']:.1f} ms)"
    return figures

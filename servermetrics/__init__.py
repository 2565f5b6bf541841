"""The server's own Prometheus figures, scraped during a run and summarized beside the client's.

``ServerMetricsScraper(url, interval, headers)`` (:mod:`servermetrics.scraper`) fetches the
server's ``/metrics`` every interval on one greenlet; :mod:`servermetrics.parse` sorts the text
(parsed by ``prometheus_client``) into gauges, counters and histograms; :mod:`servermetrics.tracks`
follows each across the run; :mod:`servermetrics.summary` makes the summary's ``server_metrics``
block and sets it beside the client's figures; :mod:`servermetrics.names` maps each server's
well-known names (vLLM, SGLang, TGI, llama.cpp) to common ones. Knows nothing of Locust.
"""

from servermetrics.scraper import ServerMetricsScraper, scraper_for
from servermetrics.summary import beside_client, format_block

__all__ = ["ServerMetricsScraper", "beside_client", "format_block", "scraper_for"]

"""The OpenAI Batch API as a workload: build the JSONL input, run one batch through its states,
check what came back. Knows nothing of Locust: HTTP, clock and pauses are handed in.

A batch goes ``validating -> in_progress -> finalizing -> completed``, or ends ``failed``
(its input did not validate), ``expired`` (its completion window ran out) or ``cancelled``
(through ``cancelling``). Modules: jsonl (input lines and the limits), multipart (the upload
body), client (one batch's lifecycle), check (the output and error files), result (what a
batch did), http (the geventhttpclient adapter), options (the knobs).
"""

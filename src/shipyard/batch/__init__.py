"""Batch scoring: a registered model version over a Parquet or CSV file, as the server would
answer each row, written to Parquet; resumable after a crash.

``runner.score`` ties the pieces together, one concept a module:

- ``locations``: local paths and ``s3://bucket/key``, fingerprints, fetching and delivering;
- ``sources``: the input read in chunks of exactly ``chunk_rows`` rows (``text_columns``
  types a CSV file's text);
- ``chunks``: one chunk through the data plane's steps (validate, set refused rows aside,
  predict) into Arrow tables: the unit an engine runs;
- ``engines``: what runs the chunks (this process's threads; Ray Data later);
- ``journal``: the checkpoint (part files and a journal in a staging directory);
- ``sinks``: part files and the final output and rejects files.

The CLI front is ``shipyard score`` (``cli/score.py``); see docs/batch-scoring.md. This
module holds only constants, so that the CLI can name them without importing pyarrow.
"""

LOCAL = "local"
RAY = "ray"
ENGINES = (LOCAL, RAY)
"""What runs the chunks (``engines``): ``local`` this process, ``ray`` Ray Data (to come)."""
DEFAULT_CHUNK_ROWS = 50_000
"""Rows per chunk: the unit of validation, of a model call and of a checkpoint."""

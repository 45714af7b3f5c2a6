"""The prediction log: one record per inference, appended to checksummed segment files under
``$SHIPYARD_HOME/predlog`` (docs/monitoring.md, "Prediction log").

- ``codec``: the frame format (magic, length, CRC) and torn-tail detection;
- ``record``: the payload of one request, built from an ``InferenceRecord`` or ``InferenceFailure``;
- ``segments``: segment files, their locks, sealing and recovery;
- ``writer``: ``PredictionLog``, the inference observer that queues records and group-commits them;
- ``sampling`` and ``spill``: per-target sampling, and overflow to spill files.
"""

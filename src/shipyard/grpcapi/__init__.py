"""The Open Inference Protocol V2 over gRPC (``inference.GRPCInferenceService``).

A second front end on the data plane HTTP uses: ``server`` runs it in each worker beside
HTTP, ``service`` translates the calls, ``gate`` admits callers by HTTP's rules, ``tensors``
converts the wire tensors, ``status`` maps errors to gRPC status codes. The generated stubs
come from ``tritonclient[grpc]`` (Triton's service, a superset of the OIP's).
"""

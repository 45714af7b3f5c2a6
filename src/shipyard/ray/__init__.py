"""The Ray engine: ``shipyard serve --engine ray`` as a Ray Serve application.

One ingress deployment runs the same Starlette app as ``shipyard serve`` (the edge, the three
HTTP protocols' adapters, the data plane: validation, governance, deployments' splits,
batching, the prediction log); the model call itself goes to one Ray Serve deployment per
served model, whose replicas load the versions asked for (Ray Serve's model multiplexing, one
multiplexed model per version) and run them with the compiled runtime. See docs/scale-out.md.

Modules: ``options`` (settings → Ray Serve options, no Ray import), ``plan`` (which models need
a deployment), ``transport`` (what crosses between ingress and replicas), ``replica`` (the
model deployment), ``remote`` (the ingress's side of the model call), ``ingress``, ``app``
(``build(args)``, the import path a RayService names), ``cluster`` (connecting, shared-state
rules) and ``status``. Only this package imports ``ray``.
"""

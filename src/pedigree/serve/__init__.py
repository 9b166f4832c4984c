"""The model server: a released model behind KServe's V2 (Open Inference Protocol) REST API.

`server.run` serves a `pedigree.bundle.ServeBundle` whose files are local (`pedigree serve`);
`python -m pedigree.serve` is the serving image's entry point, which fetches the bundle's
files by their URIs first (`fetch`). Modules:

  server      run(): load and check the model, bind, serve until SIGINT/SIGTERM; Limits
  limits      the request limits (images, bytes per image, bytes per body)
  protocol    V2 tensors <-> the predictor's inputs and outputs (pure), response identity
  binary      requests in V2's binary data extension (pure)
  model       the KServe Model: verify files, import and load the predictor, predict
  app         KServe's ModelServer and the ASGI app it runs (routes, error answers)
  middleware  the outermost ASGI layer: body limit (413), identity headers
  fetch       a bundle's files by URI (s3://, file://, a path) into a folder, verified
  _kserve     KServe imported once, with a clean sys.argv

KServe, FastAPI and uvicorn are imported only when a server starts.
"""

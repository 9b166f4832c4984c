"""The `transform` stage: data/raw (from ingest) -> data/prepared (TFRecord shards per split).

Run as `python -m stages.transform --params params.yaml --raw data/raw --out data/prepared`.
Modules, one concept each:
  params    the `transform` section of params.yaml, validated strictly
  manifest  reading and checking data/raw/manifest.json (the ingest -> transform contract)
  split     group-aware deterministic split: md5(animal id) % buckets -> split
  resize    bilinear image / nearest trimap resize to the fixed model input size
  sample    one sample: read, verify sha256, decode, resize, describe the transforms
  stats     streaming per-channel mean/std of the train images
  jsonfiles stable JSON bytes (sorted keys, fixed separators)
  shards    TFRecord shard writing per split, plus index.json
  pipeline  the stage end to end, written atomically
Nothing heavy is imported here, so `from stages.transform.split import ...` stays cheap.
"""

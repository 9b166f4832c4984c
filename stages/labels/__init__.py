"""The `labels` stage: a label audit. Which given labels (trimaps) are probably wrong?

Run as `python -m stages.labels --params params.yaml --predictions predictions
--provenance data/prepared/provenance.jsonl --out reports`, in the folder where `pedigree
replicate --folds K` collected the out-of-fold predictions of its grouped K-fold cross-validation.

Inputs
  params.yaml `labels`   threshold (0 < t < 1, default 0.04): flag an image when its estimated
                         fraction of wrong pixels is above it; examples (0..32, default 4): how
                         many of the worst images the figure shows
  predictions/<run>/     one folder per fold x seed (`pedigree.predictions/v1`, see runs.py):
                         index.json, probabilities.npy float16 (N, S, S, C) calibrated softmax,
                         labels.npy uint8 (N, S, S), images.npy uint8 (N, S, S, 3)
  provenance.jsonl       one line per sample; `source.trimap` (relative to data/raw) and
                         `source.trimap_sha256` name the label file of each audited sample

Outputs, in --out (both or neither; other files there are left alone)
  label_issues.csv   id,score,wrong_pixel_fraction,flagged,runs,trimap,trimap_sha256,provenance
                     one row per image, worst first (score ascending, ties by id); numbers with 6
                     decimals; flagged is true/false; runs counts the runs that predicted it;
                     trimap is data/raw/<source.trimap>; provenance is
                     data/prepared/provenance.jsonl#id=<id>
  label_issues.json  {"schema": "pedigree.label-issues/v1", "method", "cleanlab" (version),
                     "threshold", "images", "runs" (run folder names), "flagged" (ids, worst
                     first), "worst" ([{id, score, wrong_pixel_fraction}], `examples` of them),
                     "figure" (base64 PNG, or null when examples is 0)}; keys sorted
  The figure has one row per worst image: the image | the given labels | the suggested labels
  (argmax of the averaged probabilities), classes in fixed colours (pet orange, background dark
  grey, border light grey), drawn with numpy and Pillow so its bytes are deterministic.

Method
  Every sample is predicted by models that never saw it (out of fold), once per seed; the mean of
  those calibrated probabilities is compared with the given labels by cleanlab's confident
  learning for segmentation (`cleanlab.segmentation.filter.find_label_issues`): per class, the
  model's typical confidence on pixels it agrees with sets a threshold; pixels where it is at
  least that confident in another class are counted, and that many of the least self-confident
  pixels whose label the model contradicts are marked. An image's wrong-pixel fraction is its
  share of marked pixels; its score is 1 - that fraction (cleanlab's `num_pixel_issues` label
  quality score). See audit.py for why not cleanlab's default `softmin` score.

Measured (the seeded simulation of tests/unit/stages/labels: 3 classes, pets of 10-30% of the
frame with thin tails a model often misses, blobs of confident model errors, 10% of the given
labels shifted, dilated or eroded by at least 10% of the pet's pixels; 550 images of 64x64, 5
folds, three worlds): with 3 seeds averaged, the N worst images held 84-91% of the N = 55
corrupted ones, and the default threshold 0.04 flagged with precision 1.00 and recall 0.73-0.80
over three model qualities. With 1 seed, precision is 0.77-0.92 (recall 0.85-0.88) for a decent
model and 0.16 for a poor one (~88% pixel accuracy), whose own mistakes need more seeds or a
higher threshold. The stage takes 2.5-3 s for 550 images of 64x64 from 15 runs on 2 CPU cores,
about half of it importing cleanlab.

Licence
  cleanlab 2.9.0 is Apache-2.0 (releases before 2.7 were AGPL-3.0). It is imported only here,
  lazily, and installed only with the label audit's own requirements (images/labels/
  requirements.in, `pip install 'pedigree[labels]'`), never with the core library: its
  dependencies (scikit-learn, pandas) are heavy, and a licence change in a later release must not
  reach every user of pedigree.

Modules, one concept each:
  params      the `labels` section of params.yaml, validated strictly
  runs        reading and checking one run folder of predictions
  samples     combining runs: the mean over seeds, labels that must agree
  provenance  each sample's trimap path and sha256 from provenance.jsonl
  audit       cleanlab, imported lazily: the per-pixel issue mask, scores, fractions
  figure      the worst images as a deterministic PNG (numpy + Pillow)
  outputs     ranking, label_issues.csv / .json bytes, the atomic write
  __main__    the stage end to end
"""

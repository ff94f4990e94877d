-- SQL over feature files: ds.npz holds features (1000 x 16 float32) and labels (int64).
-- Run: npyq sql --dir sql-examples/data --file sql-examples/features.sql

-- How many rows, and how many per label.
SELECT count(*) FROM ds;

SELECT labels, count(*) AS n FROM ds GROUP BY labels ORDER BY labels;

-- Elements of a FixedSizeList column are 1-based: features[1] is numpy's features[:, 0].
SELECT round(avg(features[1]), 6) AS mean_f1, round(sum(features[16]), 4) AS sum_f16 FROM ds;

-- Per-label means of one feature.
SELECT labels, round(avg(features[2]), 6) AS mean_f2 FROM ds GROUP BY labels ORDER BY labels;

-- The same archive saved with np.savez_compressed answers the same.
SELECT labels, count(*) AS n FROM ds_compressed GROUP BY labels ORDER BY labels;

-- A plain .npy of shape (500, 8).
SELECT count(*) AS n, round(sum(embeddings[8]), 4) AS sum_e8 FROM embeddings;

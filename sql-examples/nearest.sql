-- Nearest neighbours in an embeddings file: embeddings.npy holds 500 x 8 float32 vectors.
-- Run: npyq sql --dir sql-examples/data --file sql-examples/nearest.sql

-- The 5 rows nearest to row 42 by cosine distance (DuckDB's function names; the query vector
-- is a scalar subquery, evaluated once). _row says which rows they are; ties go to the lower _row.
SELECT _row, round(array_cosine_distance(embeddings, (SELECT embeddings FROM embeddings WHERE _row = 42)), 4) AS d
FROM embeddings ORDER BY d, _row LIMIT 5;

-- Euclidean (L2) distance to a literal query vector.
SELECT _row, round(array_distance(embeddings, [0.5, -0.5, 0.25, 0.0, 1.0, -1.0, 0.5, 0.0]), 4) AS d
FROM embeddings ORDER BY d, _row LIMIT 5;

-- Neighbours carry their labels: ds.npz's features and labels are columns of one table.
SELECT _row, round(array_cosine_distance(features, (SELECT features FROM ds WHERE _row = 0)), 4) AS d, labels
FROM ds ORDER BY d, _row LIMIT 5;

-- Inner product, norms and single elements are read from the FixedSizeList column in place.
SELECT _row, round(array_inner_product(embeddings, embeddings), 4) AS squared_norm, round(l2_norm(embeddings), 4) AS norm, embeddings[1] AS first
FROM embeddings WHERE _row < 3 ORDER BY _row;

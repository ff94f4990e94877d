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

-- Many queries at once: the 3 nearest rows of every row of a queries table (here the table
-- itself, so rank 1 is the row), in one statement: knn(corpus, column, queries, column, k, metric).
SELECT query_row, corpus_row, round(distance, 4) AS d, rank
FROM knn(embeddings, 'embeddings', embeddings, 'embeddings', 3, 'cosine')
WHERE query_row IN (0, 42) ORDER BY query_row, rank;

-- npz members are tables too; metrics 'cosine', 'l2', 'l2sq' and 'ip' (negative inner product).
SELECT query_row, corpus_row, round(distance, 4) AS d, rank
FROM knn(ds.features, 'features', ds.features, 'features', 3, 'l2')
WHERE query_row = 0 ORDER BY rank;

-- Slices of the FixedSizeList column, read from the flat buffer: 1-based, inclusive, negative
-- indices count from the end.
SELECT _row, embeddings[1:3] AS head, embeddings[-2:-1] AS tail FROM embeddings WHERE _row < 2 ORDER BY _row;

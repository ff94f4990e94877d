-- Labels joined to features across the members of one .npz, by row position.
-- Each member of ds.npz is also a table of schema ds: ds.labels, ds.features.
-- Run: npyq sql --dir sql-examples/data --file sql-examples/join_members.sql

SELECT l.labels, f.features[1] AS f1
FROM ds.labels l JOIN ds.features f ON l._row = f._row
WHERE l._row = 123;

SELECT l.labels, count(*) AS n, round(avg(f.features[2]), 6) AS mean_f2
FROM ds.labels l JOIN ds.features f ON l._row = f._row
GROUP BY l.labels ORDER BY l.labels;

-- A directory of shards is one table: readings/part-1.npy .. part-12.npy, in natural order
-- (part-2 before part-10); _row numbers the rows over all shards.
-- sales/year=2023/ and sales/year=2024/ give the partition column year.
-- Run: npyq sql --dir sql-examples/data --file sql-examples/shards.sql

SELECT count(*) AS n, round(avg(value), 6) AS mean FROM readings;

SELECT sensor, count(*) AS n, round(sum(value), 4) AS total FROM readings GROUP BY sensor ORDER BY sensor;

-- The last row of part-1, the first of part-2, the last of part-12.
SELECT _row, sensor, value FROM readings WHERE _row IN (99, 100, 1199) ORDER BY _row;

SELECT year, count(*) AS n, round(sum(amount), 2) AS total FROM sales GROUP BY year ORDER BY year;

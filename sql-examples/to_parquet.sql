-- npy -> Parquet with COPY, then the Parquet file read back.
-- Run: npyq sql --dir sql-examples/data --file sql-examples/to_parquet.sql

COPY (SELECT id, ts, kind, value FROM events) TO '/tmp/datafusion-npy-examples/events.parquet' STORED AS PARQUET;

CREATE EXTERNAL TABLE events_parquet STORED AS PARQUET LOCATION '/tmp/datafusion-npy-examples/events.parquet';

SELECT kind, count(*) AS n, count(ts) AS with_time, round(sum(value), 4) AS total
FROM events_parquet GROUP BY kind ORDER BY kind;

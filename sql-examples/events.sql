-- A record array: events.npy has fields id <i8, ts <M8[ms] (with NaT), kind <U8, value <f8.
-- Each field is a column; NaT is NULL.
-- Run: npyq sql --dir sql-examples/data --file sql-examples/events.sql

SELECT kind, count(*) AS n, count(ts) AS with_time, round(sum(value), 4) AS total
FROM events GROUP BY kind ORDER BY kind;

SELECT min(ts) AS first, max(ts) AS last FROM events;

SELECT count(*) AS nat FROM events WHERE ts IS NULL;

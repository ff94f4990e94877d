//! `COPY (query) TO ... STORED AS NPY` through the DataFusion sink.

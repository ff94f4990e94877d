//! Vector functions against numpy: `tests/sql/data/vectors/` holds float16/32/64 embeddings and
//! numpy's answers (`make_vectors.py`). Each function, over each dtype, with the query given as
//! a scalar subquery (row 7), a literal array and a prepared statement's parameter, must equal
//! numpy's values within the rounding of the arithmetic's precision; top-k must return numpy's
//! rows (ties by `_row`). SQL semantics (NULLs, zero vectors, errors, plans) are in
//! `tests/sql/vector.slt`.

use datafusion::arrow::array::{Array, AsArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_npy::datasource::SessionContextNpyExt;
use serde_json::Value;

const DIR: &str = "tests/sql/data/vectors";

fn expected() -> Value {
    let text = std::fs::read_to_string(format!("{DIR}/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn session() -> SessionContext {
    // Small batches and three partitions: rows reach the functions in many pieces.
    let config = SessionConfig::new().with_target_partitions(3).with_batch_size(37);
    let ctx = SessionContext::new_with_config(config);
    ctx.register_npy_dir(DIR).unwrap();
    ctx
}

async fn collect(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    let frame = ctx.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    frame.collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Column `index` of all batches, as `f64`, and its type.
fn floats(batches: &[RecordBatch], index: usize) -> (Vec<f64>, DataType) {
    let mut out = Vec::new();
    let mut data_type = DataType::Null;
    for batch in batches {
        let column = batch.column(index);
        data_type = column.data_type().clone();
        let column = cast(column, &DataType::Float64).unwrap();
        out.extend(column.as_primitive::<datafusion::arrow::datatypes::Float64Type>().iter().map(|v| v.unwrap_or(f64::NAN)));
    }
    (out, data_type)
}

fn rows(batches: &[RecordBatch]) -> Vec<i64> {
    batches.iter().flat_map(|b| b.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec()).collect()
}

/// An SQL array literal of the query's values.
fn literal(query: &Value) -> String {
    let values: Vec<String> = query.as_array().unwrap().iter().map(|v| format!("{:?}", v.as_f64().unwrap())).collect();
    format!("[{}]", values.join(", "))
}

/// `(SQL function, numpy key, result type for float32 data)`.
const FUNCTIONS: &[(&str, &str, DataType)] = &[
    ("array_cosine_distance", "cosine_distance", DataType::Float32),
    ("array_cosine_similarity", "cosine_similarity", DataType::Float32),
    ("array_inner_product", "inner_product", DataType::Float32),
    ("array_dot_product", "inner_product", DataType::Float32),
    ("list_cosine_distance", "cosine_distance", DataType::Float32),
    ("cosine_distance", "cosine_distance", DataType::Float64),
    ("inner_product", "inner_product", DataType::Float64),
    ("dot_product", "inner_product", DataType::Float64),
    ("array_distance", "l2_distance", DataType::Float64),
];

fn close(got: f64, want: f64, dtype: &str) -> bool {
    // float32 arithmetic over 24 products of values of about 1: a few ulps of the terms' sum.
    let tolerance = if dtype == "f64" { 1e-12 } else { 1e-5 };
    (got - want).abs() <= tolerance * (1.0 + want.abs())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vector_functions_equal_numpy_for_each_dtype_and_query_form() {
    let expected = expected();
    let ctx = session();
    let mut failures = Vec::new();
    for dtype in ["f32", "f16", "f64"] {
        let table = format!("emb_{dtype}");
        let queries = [
            ("query_row7", format!("(SELECT {table} FROM {table} WHERE _row = 7)")),
            ("query_literal", literal(&expected["query"])),
        ];
        for (query_key, query_sql) in &queries {
            for (function, key, f32_type) in FUNCTIONS {
                let sql = format!("SELECT _row, {function}({table}, {query_sql}) FROM {table} ORDER BY _row");
                let batches = collect(&ctx, &sql).await;
                let (got, data_type) = floats(&batches, 1);
                let want: Vec<f64> = expected[dtype][query_key][key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                let want_type = if dtype == "f64" { DataType::Float64 } else { f32_type.clone() };
                if data_type != want_type {
                    failures.push(format!("{sql}: type {data_type}, expected {want_type}"));
                }
                if got.len() != want.len() {
                    failures.push(format!("{sql}: {} rows, expected {}", got.len(), want.len()));
                    continue;
                }
                for (row, (g, w)) in got.iter().zip(&want).enumerate() {
                    if !close(*g, *w, dtype) {
                        failures.push(format!("{sql}: row {row}: {g} vs numpy {w}"));
                        break;
                    }
                }
            }
            // l2_norm of each row.
            let sql = format!("SELECT l2_norm({table}) FROM {table} ORDER BY _row");
            let (got, _) = floats(&collect(&ctx, &sql).await, 0);
            let want = expected[dtype][query_key]["norm"].as_array().unwrap();
            for (row, (g, w)) in got.iter().zip(want).enumerate() {
                if !close(*g, w.as_f64().unwrap(), dtype) {
                    failures.push(format!("{sql}: row {row}: {g} vs numpy {w}"));
                    break;
                }
            }
            // Top-10 by cosine distance, ties by _row: numpy's rows and distances.
            let top_k = [
                // The distance selected and sorted on, and sorted on without being selected.
                format!("SELECT _row, array_cosine_distance({table}, {query_sql}) AS d FROM {table} ORDER BY d, _row LIMIT 10"),
                format!("SELECT _row FROM {table} ORDER BY array_cosine_distance({table}, {query_sql}), _row LIMIT 10"),
            ];
            for sql in top_k {
                let batches = collect(&ctx, &sql).await;
                let got_rows = rows(&batches);
                let want_rows: Vec<i64> =
                    expected[dtype][query_key]["top10_cosine"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
                if got_rows != want_rows {
                    failures.push(format!("{sql}: rows {got_rows:?}, numpy {want_rows:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_statement_parameter_is_a_query_vector() {
    let expected = expected();
    let ctx = session();
    collect(&ctx, "PREPARE nearest(DOUBLE[]) AS SELECT _row FROM emb_f32 ORDER BY array_cosine_distance(emb_f32, $1), _row LIMIT 10").await;
    let batches = collect(&ctx, &format!("EXECUTE nearest({})", literal(&expected["query"]))).await;
    let want: Vec<i64> = expected["f32"]["query_literal"]["top10_cosine"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    assert_eq!(rows(&batches), want);
}

/// `l2_normalize` against numpy's `X / np.linalg.norm(X, axis=1, keepdims=True)`, in the data's
/// dtype (float16 computed in float32, as numpy's answer is made); the column's type unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l2_normalize_equals_numpy_in_the_columns_own_type() {
    use datafusion::arrow::datatypes::Field;
    use std::sync::Arc;
    let expected = expected();
    let ctx = session();
    for (dtype, element) in [("f32", DataType::Float32), ("f16", DataType::Float16), ("f64", DataType::Float64)] {
        let table = format!("emb_{dtype}");
        let batches = collect(&ctx, &format!("SELECT l2_normalize({table}) FROM {table} ORDER BY _row")).await;
        let want_type = DataType::FixedSizeList(Arc::new(Field::new_list_field(element.clone(), false)), 24);
        let mut got = Vec::new();
        for batch in &batches {
            let column = batch.column(0);
            assert!(
                matches!(column.data_type(), DataType::FixedSizeList(f, 24) if f.data_type() == &element),
                "{table}: type {}, expected {want_type}",
                column.data_type()
            );
            let values = cast(column.as_fixed_size_list().values(), &DataType::Float64).unwrap();
            got.extend(values.as_primitive::<datafusion::arrow::datatypes::Float64Type>().values().iter().copied());
        }
        let want: Vec<f64> =
            expected[dtype]["normalized"].as_array().unwrap().iter().flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap())).collect();
        assert_eq!(got.len(), want.len(), "{table}");
        // float16 results may differ from numpy's by one float16 ulp (the float32 quotient
        // rounded once more); float32 and float64 by a few ulps of the norm.
        let tolerance = match dtype {
            "f16" => 1e-3,
            "f32" => 1e-6,
            _ => 1e-14,
        };
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= tolerance, "{table}: element {i}: {g} vs numpy {w}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_vector_columns_are_compared_row_by_row() {
    // Each row against itself (distance 0, similarity 1) and against its float16 twin.
    let ctx = session();
    let sql = "SELECT array_distance(a.emb_f32, b.emb_f16), array_cosine_similarity(a.emb_f32, a.emb_f32), \
               array_inner_product(a.emb_f32, c.emb_f64) - l2_norm(a.emb_f32) * l2_norm(a.emb_f32) \
               FROM emb_f32 a JOIN emb_f16 b ON a._row = b._row JOIN emb_f64 c ON c._row = a._row";
    let batches = collect(&ctx, sql).await;
    let (distance, _) = floats(&batches, 0);
    let (similarity, _) = floats(&batches, 1);
    let (difference, _) = floats(&batches, 2);
    assert_eq!(distance.len(), 300);
    assert!(distance.iter().all(|d| *d == 0.0), "{distance:?}");
    assert!(similarity.iter().all(|s| (s - 1.0).abs() < 1e-6), "{similarity:?}");
    assert!(difference.iter().all(|d| d.abs() < 1e-4), "{difference:?}");
}

/// `knn(...)` against numpy (`knn.json`, made by `make_vectors.py`): for each corpus dtype and
/// metric, each query's `k` nearest rows in order, ties by row, with numpy's distances. Queries
/// are read in blocks of 16 (three blocks), the corpus in batches of 37 over three partitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knn_equals_numpy_for_each_dtype_and_metric() {
    let text = std::fs::read_to_string(format!("{DIR}/knn.json")).unwrap();
    let expected: Value = serde_json::from_str(&text).unwrap();
    let k = expected["k"].as_u64().unwrap() as usize;
    let ctx = session();
    collect(&ctx, "SET npy.knn_query_block = 16").await;
    let mut failures = Vec::new();
    let cases = [("emb_f32", "queries", "f32"), ("emb_f16", "queries", "f16"), ("emb_f64", "queries", "f64"), ("emb_f64", "queries_f64", "f64_f64")];
    for (corpus, queries, key) in cases {
        for metric in ["cosine", "l2", "ip"] {
            let sql = format!(
                "SELECT query_row, corpus_row, distance, rank FROM knn({corpus}, '{corpus}', {queries}, '{queries}', {k}, '{metric}') ORDER BY query_row, rank"
            );
            let batches = collect(&ctx, &sql).await;
            let query_rows = rows(&batches);
            let corpus_rows: Vec<i64> = batches.iter().flat_map(|b| b.column(1).as_primitive::<datafusion::arrow::datatypes::Int64Type>().values().to_vec()).collect();
            let (distances, _) = floats(&batches, 2);
            let ranks: Vec<i64> = batches.iter().flat_map(|b| b.column(3).as_primitive::<datafusion::arrow::datatypes::Int64Type>().values().to_vec()).collect();
            let want = expected[key][metric].as_array().unwrap();
            if query_rows.len() != want.len() * k {
                failures.push(format!("{sql}: {} rows, expected {}", query_rows.len(), want.len() * k));
                continue;
            }
            let dtype = if key == "f64_f64" { "f64" } else { "f32" };
            for (i, hit) in query_rows.iter().enumerate() {
                let (query, rank) = (i / k, i % k);
                let numpy = &want[query];
                let numpy_rows: Vec<i64> = numpy["rows"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
                let numpy_distances: Vec<f64> = numpy["distances"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect();
                let (got_row, got_distance) = (corpus_rows[i], distances[i]);
                let same = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || close(a, b, dtype);
                let ok = *hit == query as i64
                    && ranks[i] == rank as i64 + 1
                    && same(got_distance, numpy_distances[rank])
                    // numpy's row, or one numpy ranks nearby at a distance equal within rounding.
                    && (got_row == numpy_rows[rank]
                        || numpy_rows.iter().zip(&numpy_distances).any(|(r, d)| *r == got_row && same(*d, got_distance)));
                if !ok {
                    failures.push(format!(
                        "{sql}: query {query} rank {}: row {got_row} at {got_distance}, numpy row {} at {}",
                        rank + 1,
                        numpy_rows[rank],
                        numpy_distances[rank]
                    ));
                    break;
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knn_ties_go_to_the_lower_row_and_distances_are_the_scalar_functions() {
    // Query 0 is corpus row 7, which rows 120 and 240 copy: distance 0, in _row order.
    let ctx = session();
    let sql = "SELECT corpus_row, distance FROM knn(emb_f32, 'emb_f32', queries, 'queries', 3, 'l2') WHERE query_row = 0 ORDER BY rank";
    let batches = collect(&ctx, sql).await;
    assert_eq!(rows(&batches), vec![7, 120, 240]);
    assert_eq!(floats(&batches, 1).0, vec![0.0, 0.0, 0.0]);
    // Each hit's distance is array_cosine_distance of the pair, to the bit.
    let sql = "SELECT k.distance, CAST(array_cosine_distance(c.emb_f32, q.queries) AS DOUBLE) \
               FROM knn(emb_f32, 'emb_f32', queries, 'queries', 4) k \
               JOIN emb_f32 c ON c._row = k.corpus_row JOIN queries q ON q._row = k.query_row WHERE k.query_row <> 1";
    let batches = collect(&ctx, sql).await;
    let (knn, _) = floats(&batches, 0);
    let (function, _) = floats(&batches, 1);
    assert_eq!(knn.len(), 39 * 4);
    assert_eq!(knn, function);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knn_errors_name_the_columns_and_arguments() {
    let ctx = session();
    let cases = [
        ("knn(emb_f32, 'emb_f32', edge, 'edge', 5)", "knn: arrays of different sizes: 'edge' of edge has 3 elements, 'emb_f32' of emb_f32 has 24"),
        ("knn(emb_f32, 'emb_f32', queries, 'queries', 5, 'hamming')", "knn: unknown metric 'hamming'"),
        ("knn(emb_f32, 'emb_f32', queries, 'queries', 0)", "knn: k must be positive, got 0"),
        ("knn(emb_f32, 'emb_f32', queries, 'queries', -3)", "knn: k must be positive, got -3"),
        ("knn(emb_f32, 'emb_f32', queries, 'queries', 'ten')", "knn: k must be an integer constant"),
        ("knn(nowhere, 'emb', queries, 'queries', 5)", "knn: no table 'nowhere'"),
        ("knn(emb_f32, 'vec', queries, 'queries', 5)", "knn: table 'emb_f32' has no column 'vec'"),
        ("knn(emb_f32, '_row', queries, 'queries', 5)", "knn: column '_row' of 'emb_f32' is Int64, not an array of float16/float32/float64"),
        ("knn(emb_f32, 'emb_f32', queries)", "knn takes 5 or 6 arguments, got 3"),
    ];
    for (call, want) in cases {
        let sql = format!("SELECT * FROM {call}");
        let result = match ctx.sql(&sql).await {
            Ok(frame) => frame.collect().await.map(|_| ()),
            Err(e) => Err(e),
        };
        let message = result.expect_err(&sql).to_string();
        assert!(message.contains(want), "{sql}: {message}");
        assert!(!message.contains('\n'), "{sql}: one line: {message}");
    }
}

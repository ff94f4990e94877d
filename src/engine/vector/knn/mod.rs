//! `knn(corpus, 'emb', queries, 'q', k, 'cosine')`: the `k` nearest rows of a corpus table for
//! every row of a queries table, in one statement (the retrieval-evaluation workload).
//!
//! ```sql
//! SELECT query_row, corpus_row, distance, rank FROM knn(emb, 'emb', queries, 'q', 10, 'cosine');
//! ```
//!
//! - Arguments: the corpus table and its vector column, the queries table and its vector
//!   column, `k` (> 0), and the metric ([`KnnMetric`]: `cosine` (default), `l2`/`euclidean`,
//!   `l2sq`, `ip`/`dot`). Tables are any in the session (`emb`, `ds.features`, ...), given as
//!   names or strings; their vector columns are `FixedSizeList`s (or lists) of
//!   float16/float32/float64 and they must have `_row` (numpy tables do): rows are named by it.
//! - Output: `query_row` and `corpus_row` (the `_row`s), `distance` (`Float64`; computed in
//!   `f32` unless both columns are float64, as numpy computes), `rank` (1 = nearest). Ties are
//!   broken by `corpus_row`; NaN distances (zero vectors under cosine) rank last. A NULL query
//!   row has no neighbours, NULL corpus rows are skipped, NULL elements are an error.
//! - The distance of each hit is what `array_cosine_distance`, `array_distance` or
//!   `array_negative_inner_product` gives for the pair ([`search`] explains how).
//!
//! The function resolves nothing when it is called (table functions are called synchronously
//! while a statement is planned, and catalogs are asynchronous): [`KnnTable::scan`] looks the
//! tables up, checks the columns and plans a [`KnnExec`] over their scans.

pub mod exec;
pub mod search;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{plan_datafusion_err, plan_err, Result, ScalarValue, TableReference};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

pub use exec::{KnnExec, KnnSpec, VectorInput};
pub use search::KnnMetric;

use crate::datasource::context::NpySessionOptions;
use crate::datasource::ROW_COLUMN;
use crate::engine::vector::vectors::{element_type, is_float};

/// The table function. Registered as `knn` by `register_npy_format`.
#[derive(Debug, Default)]
pub struct KnnFunction;

/// `knn`'s arguments, checked as far as can be without the catalog.
#[derive(Debug, Clone)]
struct KnnArgs {
    corpus: String,
    corpus_column: String,
    queries: String,
    query_column: String,
    k: usize,
    metric: KnnMetric,
}

const USAGE: &str = "knn(corpus_table, 'column', queries_table, 'column', k [, 'cosine' | 'l2' | 'l2sq' | 'ip'])";

/// A table or column name: an identifier or a string.
fn name_argument(expr: &Expr, what: &str) -> Result<String> {
    match expr {
        Expr::Column(column) => Ok(column.flat_name()),
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _) => Ok(s.clone()),
        other => plan_err!("knn: {what} must be a name or a string, got {other}; usage: {USAGE}"),
    }
}

/// An integer constant (`5`, `-1`, `CAST(5 AS INT)`).
fn integer_argument(expr: &Expr) -> Option<i128> {
    match expr {
        Expr::Literal(value, _) => match value.cast_to(&DataType::Int64).ok()? {
            ScalarValue::Int64(Some(v)) if value.data_type().is_integer() => Some(i128::from(v)),
            _ => None,
        },
        Expr::Negative(inner) => integer_argument(inner).map(|v| -v),
        Expr::Cast(cast) => integer_argument(&cast.expr),
        _ => None,
    }
}

impl KnnArgs {
    fn parse(exprs: &[Expr]) -> Result<Self> {
        let (corpus, corpus_column, queries, query_column, k, metric) = match exprs {
            [a, b, c, d, e] => (a, b, c, d, e, None),
            [a, b, c, d, e, f] => (a, b, c, d, e, Some(f)),
            _ => return plan_err!("knn takes 5 or 6 arguments, got {}; usage: {USAGE}", exprs.len()),
        };
        let k = match integer_argument(k) {
            Some(k) if k > 0 => usize::try_from(k).unwrap_or(usize::MAX),
            Some(k) => return plan_err!("knn: k must be positive, got {k}"),
            None => return plan_err!("knn: k must be an integer constant, got {k}"),
        };
        let metric = match metric {
            None => KnnMetric::Cosine,
            Some(expr) => {
                let name = name_argument(expr, "the metric")?;
                KnnMetric::parse(&name).ok_or_else(|| {
                    plan_datafusion_err!("knn: unknown metric '{name}' (expected 'cosine', 'l2', 'euclidean', 'l2sq', 'ip' or 'dot')")
                })?
            }
        };
        Ok(KnnArgs {
            corpus: name_argument(corpus, "the corpus table")?,
            corpus_column: name_argument(corpus_column, "the corpus column")?,
            queries: name_argument(queries, "the queries table")?,
            query_column: name_argument(query_column, "the queries column")?,
            k,
            metric,
        })
    }
}

impl TableFunctionImpl for KnnFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        Ok(Arc::new(KnnTable { args: KnnArgs::parse(args.exprs())?, schema: knn_schema() }))
    }
}

/// `(query_row, corpus_row, distance, rank)`.
pub fn knn_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("query_row", DataType::Int64, false),
        Field::new("corpus_row", DataType::Int64, false),
        Field::new("distance", DataType::Float64, false),
        Field::new("rank", DataType::Int64, false),
    ]))
}

/// The table a `knn(...)` call stands for.
#[derive(Debug)]
pub struct KnnTable {
    args: KnnArgs,
    schema: SchemaRef,
}

/// A table of the session by name: `ds.features` as a qualified name, else the whole string
/// as one name.
async fn find_table(state: &SessionState, name: &str) -> Result<Arc<dyn TableProvider>> {
    for reference in [TableReference::from(name), TableReference::bare(name)] {
        if let Ok(schema) = state.schema_for_ref(reference.clone()) {
            if let Some(table) = schema.table(reference.table()).await? {
                return Ok(table);
            }
        }
    }
    plan_err!("knn: no table '{name}'")
}

/// A table's vector column and `_row`, checked; and the column's type.
fn vector_input(table: &dyn TableProvider, table_name: &str, column: &str) -> Result<(Vec<usize>, DataType)> {
    let schema = table.schema();
    let Some((index, field)) = schema.column_with_name(column).or_else(|| {
        schema.fields().iter().enumerate().find(|(_, f)| f.name().eq_ignore_ascii_case(column)).map(|(i, f)| (i, f.as_ref()))
    }) else {
        return plan_err!("knn: table '{table_name}' has no column '{column}'");
    };
    let data_type = field.data_type().clone();
    if !element_type(&data_type).is_some_and(is_float) {
        return plan_err!("knn: column '{column}' of '{table_name}' is {data_type}, not an array of float16/float32/float64");
    }
    let Ok(row) = schema.index_of(ROW_COLUMN) else {
        return plan_err!("knn: table '{table_name}' has no {ROW_COLUMN} column (knn names rows by it)");
    };
    Ok((vec![index, row], data_type))
}

#[async_trait]
impl TableProvider for KnnTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(session) = state.as_any().downcast_ref::<SessionState>() else {
            return plan_err!("knn: needs a DataFusion SessionState to find its tables");
        };
        let a = &self.args;
        let corpus = find_table(session, &a.corpus).await?;
        let queries = find_table(session, &a.queries).await?;
        let (corpus_projection, corpus_type) = vector_input(corpus.as_ref(), &a.corpus, &a.corpus_column)?;
        let (query_projection, query_type) = vector_input(queries.as_ref(), &a.queries, &a.query_column)?;
        let corpus_name = format!("'{}' of {}", a.corpus_column, a.corpus);
        let query_name = format!("'{}' of {}", a.query_column, a.queries);
        let fixed = |t: &DataType| match t {
            DataType::FixedSizeList(_, n) => usize::try_from(*n).ok(),
            _ => None,
        };
        let dims = match (fixed(&corpus_type), fixed(&query_type)) {
            (Some(n), Some(m)) if n != m => {
                return plan_err!("knn: arrays of different sizes: {query_name} has {m} elements, {corpus_name} has {n}")
            }
            (n, m) => n.or(m),
        };
        let in_f64 = [&corpus_type, &query_type].iter().all(|t| element_type(t) == Some(&DataType::Float64));
        let query_block = state
            .config_options()
            .extensions
            .get::<NpySessionOptions>()
            .map(|o| o.knn_query_block)
            .unwrap_or(NpySessionOptions::default().knn_query_block)
            .max(1);
        let corpus_scan = corpus.scan(state, Some(&corpus_projection), &[], None).await?;
        let query_scan = queries.scan(state, Some(&query_projection), &[], None).await?;
        let input = |plan: &Arc<dyn ExecutionPlan>, column: &str, table: &str| -> Result<VectorInput> {
            let schema = plan.schema();
            let vector = schema.index_of(column).or_else(|_| {
                schema.fields().iter().position(|f| f.name().eq_ignore_ascii_case(column)).ok_or_else(|| {
                    plan_datafusion_err!("knn: the scan of '{table}' has no column '{column}'")
                })
            })?;
            Ok(VectorInput { vector, row: schema.index_of(ROW_COLUMN)? })
        };
        let corpus_input = input(&corpus_scan, &a.corpus_column, &a.corpus)?;
        let query_input = input(&query_scan, &a.query_column, &a.queries)?;
        let projection: Vec<usize> = projection.cloned().unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let schema = Arc::new(self.schema.project(&projection)?);
        let spec = KnnSpec { k: a.k, metric: a.metric, query_block, in_f64, dims, corpus_name, query_name };
        Ok(Arc::new(KnnExec::new(query_scan, query_input, corpus_scan, corpus_input, spec, projection, schema)))
    }
}

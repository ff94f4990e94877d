//! Filters on `_row` as a range of row positions.
//!
//! A scan only needs the rows a filter can keep: `_row < 10`, `_row BETWEEN 5 AND 9` (planned as
//! `_row >= 5 AND _row <= 9`), `_row = 7`, `_row IN (3, 8)` each bound `_row` to a range, and a
//! file (or the part of it) outside the range is never read. The filter itself stays in the plan
//! above the scan, so a range only has to *contain* the matching rows; anything the analysis
//! does not understand leaves the range unbounded.

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, InListExpr, Literal};
use datafusion::physical_expr::PhysicalExpr;

/// The range of `_row` values (half-open) that can satisfy `expr`, where `_row` is the column
/// at `row_index` of the schema `expr` refers to. `None`: not a bound on `_row`.
pub fn row_range(expr: &Arc<dyn PhysicalExpr>, row_index: usize) -> Option<Range<i64>> {
    if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
        return binary_range(binary, row_index);
    }
    if let Some(in_list) = expr.downcast_ref::<InListExpr>() {
        if in_list.negated() || !is_row(in_list.expr(), row_index) {
            return None;
        }
        let values = in_list.list().iter().map(literal_i64).collect::<Option<Vec<_>>>()?;
        let lo = *values.iter().min()?;
        let hi = *values.iter().max()?;
        return Some(lo..hi.saturating_add(1));
    }
    None
}

fn binary_range(binary: &BinaryExpr, row_index: usize) -> Option<Range<i64>> {
    let op = *binary.op();
    match op {
        Operator::And => {
            let left = row_range(binary.left(), row_index);
            let right = row_range(binary.right(), row_index);
            match (left, right) {
                (Some(l), Some(r)) => Some(l.start.max(r.start)..l.end.min(r.end)),
                (one, other) => one.or(other),
            }
        }
        Operator::Or => {
            let left = row_range(binary.left(), row_index)?;
            let right = row_range(binary.right(), row_index)?;
            Some(left.start.min(right.start)..left.end.max(right.end))
        }
        _ => {
            // `_row <op> value`, or `value <op> _row` read with the operator swapped.
            let (op, value) = if is_row(binary.left(), row_index) {
                (op, literal_i64(binary.right())?)
            } else if is_row(binary.right(), row_index) {
                (op.swap()?, literal_i64(binary.left())?)
            } else {
                return None;
            };
            comparison_range(op, value)
        }
    }
}

fn comparison_range(op: Operator, value: i64) -> Option<Range<i64>> {
    let range = match op {
        Operator::Eq => value..value.saturating_add(1),
        Operator::Lt => i64::MIN..value,
        Operator::LtEq => i64::MIN..value.saturating_add(1),
        Operator::Gt => value.saturating_add(1)..i64::MAX,
        Operator::GtEq => value..i64::MAX,
        _ => return None,
    };
    Some(range)
}

fn is_row(expr: &Arc<dyn PhysicalExpr>, row_index: usize) -> bool {
    expr.downcast_ref::<Column>().is_some_and(|c| c.index() == row_index)
}

fn literal_i64(expr: &Arc<dyn PhysicalExpr>) -> Option<i64> {
    let literal = expr.downcast_ref::<Literal>()?;
    let value = literal.value();
    if !value.data_type().is_integer() {
        return None;
    }
    match value.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(Some(v)) => Some(v),
        _ => None,
    }
}

/// `range` (of `_row` values) as rows of a file whose first row has `_row` = `offset` and which
/// holds `rows` rows.
pub fn local_rows(range: &Range<i64>, offset: u64, rows: u64) -> Range<u64> {
    let offset = i128::from(offset);
    let clamp = |v: i64| (i128::from(v) - offset).clamp(0, i128::from(rows)) as u64;
    let (start, end) = (clamp(range.start), clamp(range.end));
    start..end.max(start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::physical_expr::expressions::{col, lit};
    use datafusion::arrow::datatypes::{Field, Schema};

    fn schema() -> Schema {
        Schema::new(vec![Field::new("x", DataType::Float32, false), Field::new("_row", DataType::Int64, false)])
    }

    fn binary(l: Arc<dyn PhysicalExpr>, op: Operator, r: Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
        Arc::new(BinaryExpr::new(l, op, r))
    }

    #[test]
    fn comparisons_and_conjunctions() {
        let s = schema();
        let row = col("_row", &s).unwrap();
        let lt = binary(row.clone(), Operator::Lt, lit(10i64));
        assert_eq!(row_range(&lt, 1), Some(i64::MIN..10));
        let between = binary(
            binary(row.clone(), Operator::GtEq, lit(5i64)),
            Operator::And,
            binary(row.clone(), Operator::LtEq, lit(9i64)),
        );
        assert_eq!(row_range(&between, 1), Some(5..10));
        let swapped = binary(lit(3i32), Operator::Gt, row.clone());
        assert_eq!(row_range(&swapped, 1), Some(i64::MIN..3));
        let other = binary(col("x", &s).unwrap(), Operator::Lt, lit(1.0f32));
        assert_eq!(row_range(&other, 1), None);
        let mixed = binary(other, Operator::And, binary(row, Operator::Eq, lit(7i64)));
        assert_eq!(row_range(&mixed, 1), Some(7..8));
    }

    #[test]
    fn local_rows_clamp_to_file() {
        assert_eq!(local_rows(&(150..250), 100, 100), 50..100);
        assert_eq!(local_rows(&(0..50), 100, 100), 0..0);
        assert_eq!(local_rows(&(i64::MIN..i64::MAX), 0, 7), 0..7);
    }
}

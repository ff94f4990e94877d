//! The one place where numpy dtypes become Arrow types (SPEC §3), and where a header becomes the
//! columns of a table.

use datafusion::arrow::datatypes::{DataType, Field};

use super::dtype::DType;
use crate::error::ErrorKind;

/// Field metadata key holding the numpy type string the column came from.
pub const DESCR_KEY: &str = "numpy.descr";
/// Field metadata key present (value `"true"`) when the array was stored in Fortran order.
pub const FORTRAN_ORDER_KEY: &str = "numpy.fortran_order";

/// The Arrow type of one item of `dtype` (a sub-array becomes nested FixedSizeList).
/// Refusals (object, long double, generic or ps/fs/as units, `M8[Y|M]`-like timedeltas) are
/// `ErrorKind::UnsupportedDtype` naming the descr.
pub fn arrow_type(dtype: &DType) -> Result<DataType, ErrorKind> {
    let _ = dtype;
    todo!("H2")
}

/// Whether an item of `dtype` can hold nulls in Arrow (only NaT of datetime64/timedelta64).
pub fn can_be_null(dtype: &DType) -> bool {
    let _ = dtype;
    todo!("H2")
}

/// The Arrow field for a column named `name` holding items of `dtype`, with metadata
/// `numpy.descr` = `descr` (the type string as the header wrote it, for a plain array; the
/// field's `dtype.descr()` for a record field) and `numpy.fortran_order` = `"true"` when
/// `fortran_order`. Nested struct children carry their own `numpy.descr` too.
pub fn arrow_field(name: &str, dtype: &DType, descr: &str, fortran_order: bool) -> Result<Field, ErrorKind> {
    let _ = (name, dtype, descr, fortran_order);
    todo!("H2")
}

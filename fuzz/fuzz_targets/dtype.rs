//! The dtype descr: a Python literal (type string, list of fields, sub-array tuple) → DType,
//! and back: a DType's own descr parses to the same DType.
#![no_main]

use arrow_npy::dtype::DType;
use arrow_npy::literal;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = DType::from_type_str(text);
    let Ok(descr) = literal::parse(text) else { return };
    let _ = descr.repr_truncated(80);
    let Ok(dtype) = DType::from_descr(&descr) else { return };
    let _ = dtype.itemsize();
    let _ = dtype.type_str();
    let _ = arrow_npy::schema::arrow_type(&dtype);
    let _ = arrow_npy::schema::descr_text(&dtype);
    let written = dtype.descr();
    let reparsed = literal::parse(&written).unwrap_or_else(|e| panic!("own descr {written:?} does not parse: {e}"));
    let again = DType::from_descr(&reparsed).unwrap_or_else(|e| panic!("own descr {written:?} refused: {e}"));
    assert_eq!(again.itemsize(), dtype.itemsize(), "itemsize changed through {written:?}");
    assert_eq!(again.descr(), written, "descr not stable through {written:?}");
});

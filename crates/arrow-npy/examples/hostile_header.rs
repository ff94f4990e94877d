//! Measures what a hostile `.npy` header costs: `hostile_header <case> <file.npy>` writes the
//! case's file (the header as long as the cap allows) if it does not exist, then opens it and
//! prints the time; run it under `/usr/bin/time -v` for the peak memory (which includes the
//! file's mapped pages: the header is read through the map).
//!
//! Cases: shape (millions of dimensions), ints (a descr list of millions of ints), string (a
//! 16 MiB type string), keys (repeated dict keys), nested (deep nesting), fields (a
//! million-field record), wide (a record of the most fields the value budget allows, read).

use std::time::Instant;

use arrow_npy::header::DEFAULT_MAX_HEADER_LEN;
use arrow_npy::NpyTable;

fn filled(prefix: &str, unit: &str, suffix: &str) -> String {
    let end = DEFAULT_MAX_HEADER_LEN as usize - suffix.len() - 1;
    let mut text = String::from(prefix);
    while text.len() + unit.len() <= end {
        text.push_str(unit);
    }
    text + suffix
}

fn record(fields: usize) -> String {
    let names: String = (0..fields).map(|i| format!("('f{i:x}','i1'),")).collect();
    format!("{{'descr': [{names}], 'fortran_order': False, 'shape': (2,)}}")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, case, path] = args.as_slice() else {
        return Err("usage: hostile_header <shape|ints|string|keys|nested|fields|wide> <file.npy>".into());
    };
    if !std::path::Path::new(path).exists() {
        let (text, data) = match case.as_str() {
            "shape" => (filled("{'descr': '<f8', 'fortran_order': False, 'shape': (", "1,", ")}"), 0),
            "ints" => (filled("{'fortran_order': False, 'shape': (1,), 'descr': [", "1,", "]}"), 0),
            "string" => (filled("{'fortran_order': False, 'shape': (1,), 'descr': '", "f", "'}"), 0),
            "keys" => (filled("{", "'descr': '<f8', ", "'fortran_order': False, 'shape': (1,)}"), 0),
            "nested" => (filled("{'fortran_order': False, 'shape': (1,), 'descr': ", "[", ""), 0),
            "fields" => (record(1_000_000), 2_000_000),
            "wide" => (record(arrow_npy::literal::MAX_VALUES / 3 - 10), 2 * (arrow_npy::literal::MAX_VALUES / 3 - 10)),
            other => return Err(format!("unknown case {other}").into()),
        };
        let len = (text.len() + 1).max(DEFAULT_MAX_HEADER_LEN as usize);
        let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
        bytes.extend_from_slice(&(len as u32).to_le_bytes());
        bytes.extend_from_slice(text.as_bytes());
        bytes.resize(12 + len - 1, b' ');
        bytes.push(b'\n');
        bytes.resize(bytes.len() + data, 1);
        std::fs::write(path, bytes)?;
        return Ok(());
    }
    let start = Instant::now();
    let outcome = NpyTable::open(path).and_then(|table| {
        let rows: usize = table.reader().build()?.map(|b| b.map(|b| b.num_rows()).unwrap_or(0)).sum();
        Ok(format!("read {rows} rows of {} columns", table.schema().fields().len()))
    });
    let elapsed = start.elapsed();
    let outcome = outcome.unwrap_or_else(|e| format!("refused: {}", e.to_string().chars().take(100).collect::<String>()));
    println!("{case}: {elapsed:?}; {outcome}");
    Ok(())
}
